% rebase('layout.tpl')
% include('search_range.tpl')
<p class="hint zone-note" id="times-zone">{{_("Start times in {zone}.").format(zone=zone_label)}}</p>
% if page is not None and not page.rows:
<div class="empty">{{_("No call matches this search.") if any(filters.values()) else _("No call has been logged yet: outbound calls of billing-enabled extensions appear here with their cost.")}}</div>
% elif page is not None:
<div class="table-wrap">
<table class="list stack" id="call-table">
  <thead><tr><th>{{_("Start Time")}}</th><th>{{_("Extension")}}</th><th>{{_("User Name")}}</th><th>{{_("Dialed Number")}}</th>
    <th class="num">{{_("Duration")}}</th><th>{{_("Rate")}}</th><th class="num">{{_("Cost")}}</th><th>{{_("Status")}}</th><th>{{_("Call Type")}}</th><th class="num">{{_("Free")}}</th></tr></thead>
  <tbody>
  % for c in page.rows:
  <tr data-call="{{c.id}}"><td data-label="{{_("Start Time")}}">{{when(c.started_utc)}}</td><td class="mono" data-label="{{_("Extension")}}">{{c.number}}{{(' ' + _("from {phone}").format(phone=c.phone)) if c.phone else ''}}</td><td class="name" data-label="{{_("User Name")}}">{{c.name}}</td>
      <td class="mono" data-label="{{_("Dialed Number")}}">{{c.dialed}}</td><td class="num" data-label="{{_("Duration")}}">{{dur(c.answered_s)}}</td><td data-label="{{_("Rate")}}">{{c.rate_label}}</td>
      <td class="num cost" data-label="{{_("Cost")}}">{{fmt(c.cost)}}</td>
      <td data-label="{{_("Status")}}"><span class="badge status-{{c.status}}">{{_(c.status)}}</span>{{(' ' + _(c.reason)) if c.reason and c.status != 'unrated' else ''}}</td>
      <td class="call-type" data-label="{{_("Call Type")}}">{{type_label(c.call_type) if c.call_type else ''}}</td>
      <td class="num free" data-label="{{_("Free")}}">{{dur(c.free_s) if c.free_s else ''}}</td></tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
