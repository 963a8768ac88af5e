<form method="get" action="{{path}}" class="searchbar" id="range-search">
  <label>{{_("From")}} <input type="date" name="from" value="{{filters['from']}}" id="from"></label>
  <label>{{_("To")}} <input type="date" name="to" value="{{filters['to']}}" id="to"></label>
  <label>{{_("Keywords")}} <input name="q" value="{{filters['q']}}" placeholder="{{_("extension number or user name")}}" id="q" maxlength="40"></label>
  % include('department_filter.tpl')
  % include('site_filter.tpl')
  % if 'type' in filters:
  % include('call_type_filter.tpl')
  % end
  <button type="submit">{{_("Search")}}</button>
  <a href="{{path}}" class="button subtle">{{_("Reset")}}</a>
  % include('field_error.tpl', name='from')
  % include('field_error.tpl', name='to')
</form>
<div class="toolbar downloads">
  <span>{{_("Download Search Results:")}}</span>
  <a href="{{path}}/export.xlsx?{{export_query}}" class="button" id="download-xlsx">{{_("MS Excel (.xlsx)")}}</a>
  <a href="{{path}}/export.csv?{{export_query}}" class="button" id="download-csv">CSV</a>
</div>
