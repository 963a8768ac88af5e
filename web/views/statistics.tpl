% rebase('layout.tpl')
<form method="get" action="/statistics" class="searchbar" id="stats-form">
  <label>Extension <input name="extension" value="{{filters['extension']}}" placeholder="all extensions" id="stat-ext" maxlength="32"></label>
  <label>Statistics By
    <select name="by" id="stat-by">
      <option value="day" {{'selected' if filters['by'] == 'day' else ''}}>Day</option>
      <option value="month" {{'selected' if filters['by'] == 'month' else ''}}>Month</option>
      <option value="year" {{'selected' if filters['by'] == 'year' else ''}}>Year</option>
    </select></label>
  <label>From <input type="date" name="from" value="{{filters['from']}}" id="stat-from"></label>
  <label>To <input type="date" name="to" value="{{filters['to']}}" id="stat-to"></label>
  <button type="submit">Show</button>
  <a href="/statistics?by={{filters['by']}}" class="button subtle" id="stat-reset">Default range</a>
  % include('field_error.tpl', name='extension')
  % include('field_error.tpl', name='from')
  % include('field_error.tpl', name='to')
</form>
<div class="cards" id="stat-totals">
  <div class="card"><span class="card-label">Outbound Calls</span><span class="card-value" id="total-calls">{{total.calls}}</span></div>
  <div class="card"><span class="card-label">Total Call Time</span><span class="card-value" id="total-time">{{dur(total.answered_s)}}</span></div>
  <div class="card"><span class="card-label">Average Call Time</span><span class="card-value" id="avg-time">{{dur(total.average_s)}}</span></div>
  <div class="card"><span class="card-label">Total Cost</span><span class="card-value" id="total-cost">{{fmt(total.cost)}}</span></div>
</div>
<p class="range-note" id="stat-range" data-from="{{shown['from']}}" data-to="{{shown['to']}}">
  {{'Extension ' + filters['extension'] if filters['extension'] else 'All extensions'}}, by {{filters['by']}}:
  <strong>{{shown['text']}}</strong>{{' (the default range for By ' + filters['by'].capitalize() + '; pick dates to change it)' if shown['default'] else ''}}.
  Days in {{zone_label}}. Calls counted once settled (charged or unrated);
  <a href="{{call_log}}" id="stat-call-log">the same range in the Call Log</a>.</p>
% if partial:
<p class="hint" id="stat-partial">Only part of {{', '.join(sorted(partial))}} is in this range: its total is for the days shown above, not the whole {{filters['by']}}.</p>
% end
% include('chart.tpl', chart=chart_cost, chart_id='chart-cost', caption='Total cost (' + currency + ')', label=fmt)
% include('chart.tpl', chart=chart_time, chart_id='chart-time', caption='Total call time', label=dur)
% if rows:
<div class="table-wrap">
<table class="list stack" id="stat-table">
  <thead><tr><th>{{filters['by'].capitalize()}}</th><th class="num">Calls</th><th class="num">Answered</th>
    <th class="num">Total Call Time</th><th class="num">Average Call Time</th><th class="num">Total Cost</th></tr></thead>
  <tbody>
  % for r in rows:
  <tr><td data-label="{{filters['by'].capitalize()}}">{{r.period}}{{!' <span class="badge" title="only part of it is in the range">part</span>' if r.period in partial else ''}}</td><td class="num" data-label="Calls">{{r.calls}}</td><td class="num" data-label="Answered">{{r.answered_calls}}</td>
      <td class="num" data-label="Total Call Time">{{dur(r.answered_s)}}</td><td class="num" data-label="Average Call Time">{{dur(r.average_s)}}</td><td class="num" data-label="Total Cost">{{fmt(r.cost)}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
