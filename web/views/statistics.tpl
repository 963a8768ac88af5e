% rebase('layout.tpl')
% period = {'day': _("Day"), 'month': _("Month"), 'year': _("Year")}.get(filters['by'], filters['by'])
<form method="get" action="/statistics" class="searchbar" id="stats-form">
  <label>{{_("Extension")}} <input name="extension" value="{{filters['extension']}}" placeholder="{{_("all extensions")}}" id="stat-ext" maxlength="32"></label>
  <label>{{_("Statistics By")}}
    <select name="by" id="stat-by">
      <option value="day" {{'selected' if filters['by'] == 'day' else ''}}>{{_("Day")}}</option>
      <option value="month" {{'selected' if filters['by'] == 'month' else ''}}>{{_("Month")}}</option>
      <option value="year" {{'selected' if filters['by'] == 'year' else ''}}>{{_("Year")}}</option>
    </select></label>
  <label>{{_("Call Type")}}
    <select name="type" id="stat-type">
      <option value="">{{_("all call types")}}</option>
      % for t in call_types:
      <option value="{{t}}" {{'selected' if filters['type'] == t else ''}}>{{type_label(t)}}</option>
      % end
    </select></label>
  <label>{{_("From")}} <input type="date" name="from" value="{{filters['from']}}" id="stat-from"></label>
  <label>{{_("To")}} <input type="date" name="to" value="{{filters['to']}}" id="stat-to"></label>
  % include('department_filter.tpl')
  % include('site_filter.tpl')
  <button type="submit">{{_("Show")}}</button>
  <a href="/statistics?by={{filters['by']}}" class="button subtle" id="stat-reset">{{_("Default range")}}</a>
  % include('field_error.tpl', name='extension')
  % include('field_error.tpl', name='from')
  % include('field_error.tpl', name='to')
  % include('field_error.tpl', name='type')
</form>
<div class="cards" id="stat-totals">
  <div class="card"><span class="card-label">{{_("Outbound Calls")}}</span><span class="card-value" id="total-calls">{{total.calls}}</span></div>
  <div class="card"><span class="card-label">{{_("Total Call Time")}}</span><span class="card-value" id="total-time">{{dur(total.answered_s)}}</span></div>
  <div class="card"><span class="card-label">{{_("Average Call Time")}}</span><span class="card-value" id="avg-time">{{dur(total.average_s)}}</span></div>
  <div class="card"><span class="card-label">{{_("Total Cost")}}</span><span class="card-value" id="total-cost">{{fmt(total.cost)}}</span></div>
</div>
<p class="range-note" id="stat-range" data-from="{{shown['from']}}" data-to="{{shown['to']}}">
  {{_("Extension {number}, by {period}:").format(number=filters['extension'], period=period.lower()) if filters['extension'] else _("All extensions, by {period}:").format(period=period.lower())}}
  <strong>{{shown['text']}}</strong>{{(' ' + _("(the default range for By {period}; pick dates to change it)").format(period=period)) if shown['default'] else ''}}.
  {{_("Call type {type} only.").format(type=type_label(filters['type'])) if filters['type'] else ''}}
  {{_("Days in {zone}. Calls counted once settled (charged or unrated);").format(zone=zone_label)}}
  <a href="{{call_log}}" id="stat-call-log">{{_("the same range in the Call Log")}}</a>.</p>
% if partial:
<p class="hint" id="stat-partial">{{_("Only part of {periods} is in this range: its total is for the days shown above, not the whole {period}.").format(periods=', '.join(sorted(partial)), period=period.lower())}}</p>
% end
<div class="toolbar downloads" id="stat-downloads">
  <span>{{_("Download by call type:")}}</span>
  % export_query = '&'.join('{}={}'.format(k, qs(v)) for k, v in filters.items() if v)
  <a href="/statistics/export.xlsx?{{export_query}}" class="button" id="stat-download-xlsx">{{_("MS Excel (.xlsx)")}}</a>
  <a href="/statistics/export.csv?{{export_query}}" class="button" id="stat-download-csv">CSV</a>
</div>
% include('department_totals.tpl')
% include('chart.tpl', chart=chart_cost, chart_id='chart-cost', caption=_("Total cost ({currency})").format(currency=currency), label=fmt)
% include('chart.tpl', chart=chart_time, chart_id='chart-time', caption=_("Total call time"), label=dur)
% if rows:
<div class="table-wrap">
<table class="list stack" id="stat-table">
  <thead><tr><th>{{period}}</th><th class="num">{{_("Calls")}}</th><th class="num">{{_("Answered")}}</th>
    <th class="num">{{_("Total Call Time")}}</th><th class="num">{{_("Average Call Time")}}</th><th class="num">{{_("Total Cost")}}</th></tr></thead>
  <tbody>
  % for r in rows:
  <tr><td data-label="{{period}}">{{r.period}}{{!' <span class="badge" title="{}">{}</span>'.format(_("only part of it is in the range"), _("part")) if r.period in partial else ''}}</td><td class="num" data-label="{{_("Calls")}}">{{r.calls}}</td><td class="num" data-label="{{_("Answered")}}">{{r.answered_calls}}</td>
      <td class="num" data-label="{{_("Total Call Time")}}">{{dur(r.answered_s)}}</td><td class="num" data-label="{{_("Average Call Time")}}">{{dur(r.average_s)}}</td><td class="num" data-label="{{_("Total Cost")}}">{{fmt(r.cost)}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
% if by_type:
<h2 id="by-type-title">{{_("By call type")}}</h2>
<div class="table-wrap">
<table class="list stack" id="stat-types">
  <thead><tr><th>{{_("Call Type")}}</th><th class="num">{{_("Calls")}}</th><th class="num">{{_("Answered")}}</th>
    <th class="num">{{_("Total Call Time")}}</th><th class="num">{{_("Total Cost")}}</th></tr></thead>
  <tbody>
  % for t in by_type:
  <tr data-type="{{t.call_type}}"><td data-label="{{_("Call Type")}}">{{t.label}}</td><td class="num" data-label="{{_("Calls")}}">{{t.calls}}</td><td class="num" data-label="{{_("Answered")}}">{{t.answered_calls}}</td>
      <td class="num" data-label="{{_("Total Call Time")}}">{{dur(t.answered_s)}}</td><td class="num" data-label="{{_("Total Cost")}}">{{fmt(t.cost)}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
