% rebase('layout.tpl')
<p class="hint">Check a guest in or out from the row actions of the <a href="/extensions">Extensions</a> page.</p>
<h2>Checked in</h2>
% if not open_stays:
<div class="empty" id="no-stays">No guest is checked in.</div>
% else:
<div class="table-wrap">
<table class="list stack" id="stay-table">
  <thead><tr><th>Extension</th><th>Guest</th><th>Checked in</th><th>Actions</th></tr></thead>
  <tbody>
  % for s in open_stays:
  <tr data-number="{{s.number}}">
    <td class="mono" data-label="Extension">{{s.number}}</td>
    <td data-label="Guest">{{s.guest}}</td>
    <td data-label="Checked in">{{when(s.checkin_utc)}}</td>
    <td class="actions" data-label="Actions"><a href="/stays/check-out?n={{qs(s.number)}}" class="button small">Check out</a></td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
<h2>Statements</h2>
<form method="post" action="/statements/issue" class="searchbar" id="period-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>Extension <input name="n" id="period-ext" required maxlength="32"></label>
  <label>From <input type="datetime-local" name="from" id="period-from" required></label>
  <label>To <input type="datetime-local" name="to" id="period-to" required></label>
  <button type="submit" id="issue-statement">Statement of this period</button>
</form>
% if not issued:
<div class="empty" id="no-statements">No statement issued yet: check-out issues one.</div>
% else:
<div class="table-wrap">
<table class="list stack" id="statement-table">
  <thead><tr><th>Statement</th><th>Issued</th><th>Extension</th><th>From</th><th>To</th></tr></thead>
  <tbody>
  % for number, issued_utc, ext, from_utc, to_utc in issued:
  <tr data-number="{{number}}">
    <td class="mono" data-label="Statement"><a href="/statements/{{number}}">{{number}}</a></td>
    <td data-label="Issued">{{when(issued_utc)}}</td>
    <td class="mono" data-label="Extension">{{ext}}</td>
    <td data-label="From">{{when(from_utc)}}</td>
    <td data-label="To">{{when(to_utc)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
