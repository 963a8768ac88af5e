% rebase('layout.tpl', title=_("Statement {number}").format(number=s['number']))
% from bottle import html_escape as escape
<div class="statement-tools no-print">
  <button type="button" class="primary" id="print-statement" data-print>{{_("Print")}}</button>
  <a href="/statements/{{s['number']}}.pdf" class="button" id="download-pdf">PDF</a>
  <a href="/statements/{{s['number']}}.xlsx" class="button" id="download-xlsx">xlsx</a>
  <a href="/stays" class="button subtle">{{_("Stays")}}</a>
</div>
<article class="statement" id="statement" data-number="{{s['number']}}">
  <header class="statement-head">
    % if s['hotel']['name']:
    <div class="hotel-name" id="hotel-name">{{s['hotel']['name']}}</div>
    % end
    % if s['hotel']['address']:
    <div class="hotel-address" id="hotel-address">{{s['hotel']['address']}}</div>
    % end
    <div class="statement-title">{{!_("Statement {number}").format(number='<span class="mono" id="statement-number">' + escape(s['number']) + '</span>')}}</div>
  </header>
  <table class="info statement-info">
    <tr><th>{{_("Extension")}}</th><td id="st-extension">{{s['extension']['number']}}</td></tr>
    <tr><th>{{_("Guest")}}</th><td id="st-guest">{{s['guest'] or s['extension']['name']}}</td></tr>
    <tr><th>{{_("From")}}</th><td>{{at(s['period']['from_utc'])}}</td></tr>
    <tr><th>{{_("To")}}</th><td>{{at(s['period']['to_utc'])}}</td></tr>
    <tr><th>{{_("Issued")}}</th><td>{{at(s['issued_utc'])}}</td></tr>
    <tr><th>{{_("Times in")}}</th><td>{{s['zone_label']}}</td></tr>
    <tr><th>{{_("Currency")}}</th><td id="st-currency">{{s['currency']}}</td></tr>
  </table>
  % if s['in_progress']:
  <p class="notice" role="alert" id="st-in-progress">{{_("{count} call(s) were still in progress when this statement was issued and are not on it.").format(count=s['in_progress'])}}</p>
  % end
  <table class="info statement-totals" id="st-opening"><tr><th>{{_("Opening balance")}}</th><td class="num">{{sfmt(s['opening_balance'])}}</td></tr></table>
  <h2>{{_("Calls")}}</h2>
  % if not s['calls']:
  <p class="empty" id="st-no-calls">{{_("No calls.")}}</p>
  % else:
  <table class="list statement-calls" id="st-calls">
    <thead><tr><th>{{_("Time")}}</th><th>{{_("Number")}}</th><th class="num">{{_("Duration")}}</th><th class="num">{{_("Cost")}}</th><th class="st-status">{{_("Status")}}</th></tr></thead>
    <tbody>
    % for c in s['calls']:
    % status = c['status']  # a stored value, translated where the catalog has it
    <tr><td>{{at(c['started_utc'])}}</td><td class="mono">{{c['dialed']}}</td><td class="num">{{dur(c['answered_s'])}}</td><td class="num">{{sfmt(c['cost'])}}</td><td class="st-status">{{_(status)}}</td></tr>
    % end
    </tbody>
  </table>
  % end
  % if s['entries']:
  <h2>{{_("Recharges, adjustments and payments")}}</h2>
  <table class="list statement-entries" id="st-entries">
    <thead><tr><th>{{_("Time")}}</th><th>{{_("Kind")}}</th><th class="num">{{_("Amount")}}</th><th>{{_("Note")}}</th></tr></thead>
    <tbody>
    % for e in s['entries']:
    % kind = e['kind'].capitalize()
    <tr><td>{{at(e['at_utc'])}}</td><td>{{_(kind)}}</td><td class="num">{{sfmt(e['amount'])}}</td><td>{{note(e)}}</td></tr>
    % end
    </tbody>
  </table>
  % end
  <table class="info statement-totals" id="st-totals">
    <tr><th>{{_("Calls")}}</th><td class="num" id="st-total-calls">{{s['totals']['calls']}}</td></tr>
    <tr><th>{{_("Call cost")}}</th><td class="num" id="st-call-cost">{{sfmt(s['totals']['call_cost'])}}</td></tr>
    <tr><th>{{_("Recharges")}}</th><td class="num">{{sfmt(s['totals']['recharges'])}}</td></tr>
    <tr><th>{{_("Adjustments")}}</th><td class="num">{{sfmt(s['totals']['adjustments'])}}</td></tr>
    <tr><th>{{_("Payments")}}</th><td class="num" id="st-payments">{{sfmt(s['totals']['payments'])}}</td></tr>
    <tr class="closing"><th>{{_("Closing balance")}}</th><td class="num" id="st-closing">{{sfmt(s['closing_balance'])}}</td></tr>
  </table>
</article>
