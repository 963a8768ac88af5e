% rebase('layout.tpl')
% include('search_range.tpl')
<p class="hint zone-note" id="times-zone">Times in {{zone_label}}.</p>
% if page is not None and not page.rows:
<div class="empty">No recharge {{'matches this search' if any(filters.values()) else 'has been made yet: recharge extensions on the Extensions page'}}.</div>
% elif page is not None:
<div class="table-wrap">
<table class="list" id="recharge-table">
  <thead><tr><th>Time</th><th>Extension</th><th>User Name</th><th class="num">Pre-balance</th>
    <th class="num">Recharge Amount</th><th class="num">Post-balance</th><th>Operator</th><th>Note</th></tr></thead>
  <tbody>
  % for r in page.rows:
  <tr><td>{{when(r.created_utc)}}</td><td class="mono">{{r.number}}</td><td class="name">{{r.name}}</td>
      <td class="num">{{fmt(r.pre_balance)}}</td><td class="num">{{fmt(r.amount)}}</td>
      <td class="num">{{fmt(r.post_balance)}}</td><td>{{r.operator}}</td><td class="note">{{r.note}}</td></tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
