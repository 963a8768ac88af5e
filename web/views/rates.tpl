% rebase('layout.tpl')
<div class="toolbar">
  <a href="/rates/add" class="button primary" id="add-rate">Add</a>
  <a href="/rates/test" class="button" id="rate-tester">Rate Tester</a>
  <a href="/rates/import" class="button" id="import-rates">Import CSV</a>
  <a href="/rates/export.csv" class="button" id="export-rates">Export CSV</a>
  <form method="get" action="/rates" class="inline searchbar">
    <input name="q" value="{{search}}" placeholder="prefix or remarks" aria-label="Search rates" maxlength="40">
    <button type="submit">Search</button>
  </form>
</div>
% if not page.rows:
<div class="empty">
  % if search:
  No rate matches “{{search}}”. <a href="/rates">Show all rates</a>.
  % else:
  No rates yet. Outbound calls of billing-enabled extensions are billed by rates: click
  <a href="/rates/add">Add</a> to make the first one (for example prefix 9 with number length 9 for
  city landlines and another with length 12 for mobiles), or import a rate deck from CSV.
  % end
</div>
% else:
<form method="post" action="/rates/delete" id="rates-form">
<input type="hidden" name="csrf" value="{{csrf}}">
<div class="table-wrap">
<table class="list" id="rate-table">
  <thead><tr>
    <th class="check"><input type="checkbox" data-select-all="id" aria-label="Select all rates on this page"></th>
    <th>Activate</th><th>Remarks</th><th>Prefix</th><th>Number Length</th><th class="num">Initial Cost</th>
    <th class="num">Initial Time</th><th class="num">Rate</th><th class="num">Billing Unit</th><th>Time</th><th>Extensions</th><th>Actions</th>
  </tr></thead>
  <tbody>
  % for r in page.rows:
  % exts = assigned.get(r.id, [])
  <tr data-rate="{{r.id}}" class="{{'' if r.active else 'off'}}">
    <td class="check"><input type="checkbox" name="id" value="{{r.id}}" aria-label="Select rate {{r.id}}"></td>
    <td>
      <button type="submit" class="toggle {{'on' if r.active else 'off'}}" role="switch" aria-checked="{{'true' if r.active else 'false'}}"
              formaction="/rates/{{r.id}}/active" name="active" value="{{'0' if r.active else '1'}}" data-no-confirm
              title="{{'Deactivate' if r.active else 'Activate'}} rate {{r.id}}"><span></span>{{'On' if r.active else 'Off'}}</button>
    </td>
    <td class="name">{{r.remarks}}
      % if r.id in never:
      <span class="badge warning" id="never-{{r.id}}" title="An older rate has the same prefix, number length, time and extensions">never applies (rate {{never[r.id]}} wins)</span>
      % end
    </td>
    <td class="mono">{{r.prefix}}</td>
    <td>{{r.length or '0 (any)'}}</td>
    <td class="num">{{fmt(r.initial_cost)}}</td>
    <td class="num">{{r.initial_time}} s</td>
    <td class="num">{{fmt(r.rate)}}</td>
    <td class="num">{{r.unit}} s</td>
    <td>{{time_of_day(r.start_s)}}–{{time_of_day(r.end_s)}}</td>
    <td>{{'All' if r.all_extensions else (', '.join(exts[:6]) + (' +%d' % (len(exts) - 6) if len(exts) > 6 else '')) or 'none'}}</td>
    <td class="actions"><a href="/rates/{{r.id}}/edit" class="button small subtle">Edit</a></td>
  </tr>
  % end
  </tbody>
</table>
</div>
<div class="toolbar"><button type="submit" class="danger" id="delete-rates" data-confirm="Delete the selected rate(s)? Their calls keep the rate they were billed with." data-need-selection="id">Delete selected</button></div>
</form>
% include('pager.tpl')
% end
