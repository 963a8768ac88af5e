% rebase('layout.tpl')
<div class="statement-tools no-print">
  <button type="button" class="primary" id="print-statement" data-print>Print</button>
  <a href="/statements/{{s['number']}}.pdf" class="button" id="download-pdf">PDF</a>
  <a href="/statements/{{s['number']}}.xlsx" class="button" id="download-xlsx">xlsx</a>
  <a href="/stays" class="button subtle">Stays</a>
</div>
<article class="statement" id="statement" data-number="{{s['number']}}">
  <header class="statement-head">
    % if s['hotel']['name']:
    <div class="hotel-name" id="hotel-name">{{s['hotel']['name']}}</div>
    % end
    % if s['hotel']['address']:
    <div class="hotel-address" id="hotel-address">{{s['hotel']['address']}}</div>
    % end
    <div class="statement-title">Statement <span class="mono" id="statement-number">{{s['number']}}</span></div>
  </header>
  <table class="info statement-info">
    <tr><th>Extension</th><td id="st-extension">{{s['extension']['number']}}</td></tr>
    <tr><th>Guest</th><td id="st-guest">{{s['guest'] or s['extension']['name']}}</td></tr>
    <tr><th>From</th><td>{{at(s['period']['from_utc'])}}</td></tr>
    <tr><th>To</th><td>{{at(s['period']['to_utc'])}}</td></tr>
    <tr><th>Issued</th><td>{{at(s['issued_utc'])}}</td></tr>
    <tr><th>Times in</th><td>{{s['zone_label']}}</td></tr>
    <tr><th>Currency</th><td id="st-currency">{{s['currency']}}</td></tr>
  </table>
  % if s['in_progress']:
  <p class="notice" role="alert" id="st-in-progress">{{s['in_progress']}} call(s) were still in progress when this statement was issued and are not on it.</p>
  % end
  <table class="info statement-totals" id="st-opening"><tr><th>Opening balance</th><td class="num">{{sfmt(s['opening_balance'])}}</td></tr></table>
  <h2>Calls</h2>
  % if not s['calls']:
  <p class="empty" id="st-no-calls">No calls.</p>
  % else:
  <table class="list statement-calls" id="st-calls">
    <thead><tr><th>Time</th><th>Number</th><th class="num">Duration</th><th class="num">Cost</th><th class="st-status">Status</th></tr></thead>
    <tbody>
    % for c in s['calls']:
    <tr><td>{{at(c['started_utc'])}}</td><td class="mono">{{c['dialed']}}</td><td class="num">{{dur(c['answered_s'])}}</td><td class="num">{{sfmt(c['cost'])}}</td><td class="st-status">{{c['status']}}</td></tr>
    % end
    </tbody>
  </table>
  % end
  % if s['entries']:
  <h2>Recharges, adjustments and payments</h2>
  <table class="list statement-entries" id="st-entries">
    <thead><tr><th>Time</th><th>Kind</th><th class="num">Amount</th><th>Note</th></tr></thead>
    <tbody>
    % for e in s['entries']:
    <tr><td>{{at(e['at_utc'])}}</td><td>{{e['kind'].capitalize()}}</td><td class="num">{{sfmt(e['amount'])}}</td><td>{{e['note']}}</td></tr>
    % end
    </tbody>
  </table>
  % end
  <table class="info statement-totals" id="st-totals">
    <tr><th>Calls</th><td class="num" id="st-total-calls">{{s['totals']['calls']}}</td></tr>
    <tr><th>Call cost</th><td class="num" id="st-call-cost">{{sfmt(s['totals']['call_cost'])}}</td></tr>
    <tr><th>Recharges</th><td class="num">{{sfmt(s['totals']['recharges'])}}</td></tr>
    <tr><th>Adjustments</th><td class="num">{{sfmt(s['totals']['adjustments'])}}</td></tr>
    <tr><th>Payments</th><td class="num" id="st-payments">{{sfmt(s['totals']['payments'])}}</td></tr>
    <tr class="closing"><th>Closing balance</th><td class="num" id="st-closing">{{sfmt(s['closing_balance'])}}</td></tr>
  </table>
</article>
