% if by_department:
<h2>{{_("By department")}}</h2>
<div class="table-wrap">
<table class="list stack" id="dept-totals">
  <thead><tr><th>{{_("Department")}}</th><th class="num">{{_("Calls")}}</th>
    <th class="num">{{_("Minutes")}}</th><th class="num">{{_("Total Call Time")}}</th><th class="num">{{_("Total Cost")}}</th></tr></thead>
  <tbody>
  % for d in by_department:
  <tr data-department="{{d.department_id or ''}}"><td data-label="{{_("Department")}}">{{d.name or _("(no department)")}}</td>
    <td class="num" data-label="{{_("Calls")}}">{{d.calls}}</td>
    <td class="num" data-label="{{_("Minutes")}}">{{num(-(-d.answered_s // 60))}}</td>
    <td class="num" data-label="{{_("Total Call Time")}}">{{dur(d.answered_s)}}</td>
    <td class="num" data-label="{{_("Total Cost")}}">{{fmt(d.cost)}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
