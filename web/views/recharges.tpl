% rebase('layout.tpl')
% include('search_range.tpl')
<p class="hint zone-note" id="times-zone">Times in {{zone_label}}.</p>
% if page is not None and not page.rows:
<div class="empty">No recharge {{'matches this search' if any(filters.values()) else 'has been made yet: recharge extensions on the Extensions page'}}.</div>
% elif page is not None:
<div class="table-wrap">
<table class="list stack" id="recharge-table">
  <thead><tr><th>Time</th><th>Extension</th><th>User Name</th><th class="num">Pre-balance</th>
    <th class="num">Recharge Amount</th><th class="num">Post-balance</th><th>Operator</th><th>Note</th></tr></thead>
  <tbody>
  % for r in page.rows:
  <tr><td data-label="Time">{{when(r.created_utc)}}</td><td class="mono" data-label="Extension">{{r.number}}</td><td class="name" data-label="User Name">{{r.name}}</td>
      <td class="num" data-label="Pre-balance">{{fmt(r.pre_balance)}}</td><td class="num" data-label="Amount">{{fmt(r.amount)}}</td>
      <td class="num" data-label="Post-balance">{{fmt(r.post_balance)}}</td><td data-label="Operator">{{r.operator}}</td><td class="note" data-label="Note">{{r.note}}</td></tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
