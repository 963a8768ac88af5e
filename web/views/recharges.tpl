% rebase('layout.tpl')
% include('search_range.tpl')
<p class="hint zone-note" id="times-zone">{{_("Times in {zone}.").format(zone=zone_label)}}</p>
% if page is not None and not page.rows:
<div class="empty">{{_("No recharge matches this search.") if any(filters.values()) else _("No recharge has been made yet: recharge extensions on the Extensions page.")}}</div>
% elif page is not None:
<div class="table-wrap">
<table class="list stack" id="recharge-table">
  <thead><tr><th>{{_("Time")}}</th><th>{{_("Extension")}}</th><th>{{_("User Name")}}</th><th class="num">{{_("Pre-balance")}}</th>
    <th class="num">{{_("Recharge Amount")}}</th><th class="num">{{_("Post-balance")}}</th><th>{{_("Operator")}}</th><th>{{_("Note")}}</th></tr></thead>
  <tbody>
  % for r in page.rows:
  <tr><td data-label="{{_("Time")}}">{{when(r.created_utc)}}</td><td class="mono" data-label="{{_("Extension")}}">{{r.number}}</td><td class="name" data-label="{{_("User Name")}}">{{r.name}}</td>
      <td class="num" data-label="{{_("Pre-balance")}}">{{fmt(r.pre_balance)}}</td><td class="num" data-label="{{_("Amount")}}">{{fmt(r.amount)}}</td>
      <td class="num" data-label="{{_("Post-balance")}}">{{fmt(r.post_balance)}}</td><td data-label="{{_("Operator")}}">{{r.operator}}</td><td class="note" data-label="{{_("Note")}}">{{r.note}}</td></tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
