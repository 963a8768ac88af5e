% rebase('layout.tpl')
% from bottle import html_escape as e
% named = {key: e(heading) for key, heading in zip(column_keys, columns)}
<form method="post" action="/rates/import" enctype="multipart/form-data" class="panel stacked" id="import-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p>{{_("A CSV file with a header line. Columns:")}} <code>{{', '.join(columns)}}</code>
     {{!_('(<code>{prefix}</code>, <code>{rate}</code> and <code>{unit}</code> are required; <code>{extensions}</code> is space separated numbers or <code>*</code> for all).').format(prefix=named['prefix'], rate=named['rate'], unit=named['unit'], extensions=named['extensions'])}}
     {{_("Every row is checked before anything is saved.")}}</p>
  <label for="file">{{_("Rate file (.csv)")}}</label>
  <input type="file" id="file" name="file" accept=".csv,text/csv" required>
  % include('field_error.tpl', name='file')
  <label class="tick"><input type="checkbox" name="replace" value="1" id="replace"> {{_("Replace the whole rate table")}}</label>
  <div class="buttons"><button type="submit" class="primary" id="do-import">{{_("Import")}}</button>
    <a href="/rates/export.csv" class="button">{{_("Export current table")}}</a>
    <a href="/rates" class="button subtle">{{_("Cancel")}}</a></div>
</form>
