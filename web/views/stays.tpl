% rebase('layout.tpl')
% from bottle import html_escape as escape
<p class="hint">{{!_("Check a guest in or out from the row actions of the {page} page.").format(page='<a href="/extensions">' + escape(_("Extensions")) + '</a>')}}</p>
<h2>{{_("Checked in")}}</h2>
% if not open_stays:
<div class="empty" id="no-stays">{{_("No guest is checked in.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="stay-table">
  <thead><tr><th>{{_("Extension")}}</th><th>{{_("Guest")}}</th><th>{{_("Checked in")}}</th><th>{{_("Actions")}}</th></tr></thead>
  <tbody>
  % for s in open_stays:
  <tr data-number="{{s.number}}">
    <td class="mono" data-label="{{_("Extension")}}">{{s.number}}</td>
    <td data-label="{{_("Guest")}}">{{s.guest}}</td>
    <td data-label="{{_("Checked in")}}">{{when(s.checkin_utc)}}</td>
    <td class="actions" data-label="{{_("Actions")}}"><a href="/stays/check-out?n={{qs(s.number)}}" class="button small action">{{_("Check out")}}</a></td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
<h2>{{_("Statements")}}</h2>
<form method="post" action="/statements/issue" class="searchbar" id="period-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>{{_("Extension")}} <input name="n" id="period-ext" required maxlength="32"></label>
  <label>{{_("From")}} <input type="datetime-local" name="from" id="period-from" required></label>
  <label>{{_("To")}} <input type="datetime-local" name="to" id="period-to" required></label>
  <button type="submit" id="issue-statement">{{_("Statement of this period")}}</button>
</form>
% if not issued:
<div class="empty" id="no-statements">{{_("No statement issued yet: check-out issues one.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="statement-table">
  <thead><tr><th>{{_("Statement")}}</th><th>{{_("Issued")}}</th><th>{{_("Extension")}}</th><th>{{_("From")}}</th><th>{{_("To")}}</th></tr></thead>
  <tbody>
  % for number, issued_utc, ext, from_utc, to_utc in issued:
  <tr data-number="{{number}}">
    <td class="mono" data-label="{{_("Statement")}}"><a href="/statements/{{number}}">{{number}}</a></td>
    <td data-label="{{_("Issued")}}">{{when(issued_utc)}}</td>
    <td class="mono" data-label="{{_("Extension")}}">{{ext}}</td>
    <td data-label="{{_("From")}}">{{when(from_utc)}}</td>
    <td data-label="{{_("To")}}">{{when(to_utc)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
