% rebase('layout.tpl')
% include('search_range.tpl')
<p class="hint zone-note" id="times-zone">Start times in {{zone_label}}.</p>
% if page is not None and not page.rows:
<div class="empty">No call {{'matches this search' if any(filters.values()) else 'has been logged yet: outbound calls of billing-enabled extensions appear here with their cost'}}.</div>
% elif page is not None:
<div class="table-wrap">
<table class="list stack" id="call-table">
  <thead><tr><th>Start Time</th><th>Extension</th><th>User Name</th><th>Dialed Number</th>
    <th class="num">Duration</th><th>Rate</th><th class="num">Cost</th><th>Status</th></tr></thead>
  <tbody>
  % for c in page.rows:
  <tr data-call="{{c.id}}"><td data-label="Start Time">{{when(c.started_utc)}}</td><td class="mono" data-label="Extension">{{c.number}}</td><td class="name" data-label="User Name">{{c.name}}</td>
      <td class="mono" data-label="Dialed Number">{{c.dialed}}</td><td class="num" data-label="Duration">{{dur(c.answered_s)}}</td><td data-label="Rate">{{c.rate_label}}</td>
      <td class="num cost" data-label="Cost">{{fmt(c.cost)}}</td>
      <td data-label="Status"><span class="badge status-{{c.status}}">{{c.status}}</span>{{(' ' + c.reason) if c.reason and c.status != 'unrated' else ''}}</td></tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
