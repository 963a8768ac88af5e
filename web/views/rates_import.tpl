% rebase('layout.tpl')
<form method="post" action="/rates/import" enctype="multipart/form-data" class="panel stacked" id="import-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p>A CSV file with a header line. Columns: <code>{{', '.join(columns)}}</code>
     (<code>prefix</code>, <code>rate</code> and <code>unit</code> are required; <code>extensions</code> is
     space separated numbers or <code>*</code> for all). Every row is checked before anything is saved.</p>
  <label for="file">Rate file (.csv)</label>
  <input type="file" id="file" name="file" accept=".csv,text/csv" required>
  % include('field_error.tpl', name='file')
  <label class="tick"><input type="checkbox" name="replace" value="1" id="replace"> Replace the whole rate table</label>
  <div class="buttons"><button type="submit" class="primary" id="do-import">Import</button>
    <a href="/rates/export.csv" class="button">Export current table</a>
    <a href="/rates" class="button subtle">Cancel</a></div>
</form>
