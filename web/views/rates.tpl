% rebase('layout.tpl')
<div class="toolbar">
  <a href="/rates/add" class="button primary action" id="add-rate">{{_("Add")}}</a>
  <a href="/rates/test" class="button" id="rate-tester">{{_("Rate Tester")}}</a>
  <a href="/rates/import" class="button action" id="import-rates">{{_("Import CSV")}}</a>
  <a href="/rates/export.csv" class="button" id="export-rates">{{_("Export CSV")}}</a>
  <a href="/barring" class="button" id="call-barring">{{_("Call Barring")}}</a>
  <a href="/rates/rerate" class="button" id="rerate-link">{{_("Re-rating")}}</a>
  <form method="get" action="/rates" class="inline searchbar">
    <input name="q" value="{{search}}" placeholder="{{_("prefix or remarks")}}" aria-label="{{_("Search rates")}}" maxlength="40">
    <select name="type" id="rate-type-filter" aria-label="{{_("Call Type")}}">
      <option value="">{{_("all call types")}}</option>
      % for t in call_types:
      <option value="{{t}}" {{'selected' if call_type == t else ''}}>{{type_label(t)}}</option>
      % end
    </select>
    <button type="submit">{{_("Search")}}</button>
  </form>
</div>
% if not page.rows:
<div class="empty">
  % if search or call_type:
  {{_("No rate matches “{search}”.").format(search=search or type_label(call_type))}} <a href="/rates">{{_("Show all rates")}}</a>.
  % else:
  {{!_('No rates yet. Outbound calls of billing-enabled extensions are billed by rates: click <a href="/rates/add">Add</a> to make the first one (for example prefix 9 with number length 9 for city landlines and another with length 12 for mobiles), or import a rate deck from CSV.')}}
  % end
</div>
% else:
<form method="post" action="/rates/delete" id="rates-form">
<input type="hidden" name="csrf" value="{{csrf}}">
<div class="table-wrap">
<table class="list stack" id="rate-table">
  <thead><tr>
    <th class="check"><input type="checkbox" data-select-all="id" aria-label="{{_("Select all rates on this page")}}"></th>
    <th>{{_("Activate")}}</th><th>{{_("Remarks")}}</th><th>{{_("Prefix")}}</th><th>{{_("Number Length")}}</th><th class="num">{{_("Initial Cost")}}</th>
    <th class="num">{{_("Initial Time")}}</th><th class="num">{{_("Rate")}}</th><th class="num">{{_("Billing Unit")}}</th><th>{{_("Time")}}</th><th>{{_("Extensions")}}</th><th>{{_("Call Type")}}</th><th>{{_("Actions")}}</th>
  </tr></thead>
  <tbody>
  % for r in page.rows:
  % exts = assigned.get(r.id, [])
  <tr data-rate="{{r.id}}" class="{{'' if r.active else 'off'}}">
    <td class="check" data-label="{{_("Select")}}"><input type="checkbox" name="id" value="{{r.id}}" aria-label="{{_("Select rate {id}").format(id=r.id)}}"></td>
    <td data-label="{{_("Activate")}}">
      <button type="submit" class="toggle {{'on' if r.active else 'off'}}" role="switch" aria-checked="{{'true' if r.active else 'false'}}"
              formaction="/rates/{{r.id}}/active" name="active" value="{{'0' if r.active else '1'}}" data-no-confirm
              title="{{(_("Deactivate rate {id}") if r.active else _("Activate rate {id}")).format(id=r.id)}}"><span></span>{{_("On") if r.active else _("Off")}}</button>
    </td>
    <td class="name" data-label="{{_("Remarks")}}">{{r.remarks}}
      % if r.site:
      <span class="badge site" title="{{_("Only this site's calls are rated with it")}}">{{r.site}}</span>
      % end
      % if r.id in never:
      <span class="badge warning" id="never-{{r.id}}" title="{{_("An older rate has the same prefix, number length, time and extensions")}}">{{_("never applies (rate {winner} wins)").format(winner=never[r.id])}}</span>
      % end
    </td>
    <td class="mono" data-label="{{_("Prefix")}}">{{r.prefix}}</td>
    <td data-label="{{_("Number Length")}}">{{r.length or _("0 (any)")}}</td>
    <td class="num" data-label="{{_("Initial Cost")}}">{{fmt(r.initial_cost)}}</td>
    <td class="num" data-label="{{_("Initial Time")}}">{{r.initial_time}} s</td>
    <td class="num" data-label="{{_("Rate")}}">{{fmt(r.rate)}}</td>
    <td class="num" data-label="{{_("Billing Unit")}}">{{r.unit}} s</td>
    <td data-label="{{_("Time")}}">{{time_of_day(r.start_s)}}–{{time_of_day(r.end_s)}}</td>
    <td data-label="{{_("Extensions")}}">{{_("All") if r.all_extensions else (', '.join(exts[:6]) + (' +%d' % (len(exts) - 6) if len(exts) > 6 else '')) or _("none")}}</td>
    <td class="call-type" data-label="{{_("Call Type")}}">{{type_label(r.call_type)}}</td>
    <td class="actions" data-label="{{_("Actions")}}"><a href="/rates/{{r.id}}/edit" class="button small subtle action">{{_("Edit")}}</a></td>
  </tr>
  % end
  </tbody>
</table>
</div>
<div class="toolbar"><button type="submit" class="danger" id="delete-rates" data-confirm="{{_("Delete the selected rate(s)? Their calls keep the rate they were billed with.")}}" data-need-selection="id" data-need-selection-message="{{_("Select at least one row first.")}}">{{_("Delete selected")}}</button></div>
</form>
% include('pager.tpl')
% end
