% rebase('layout.tpl')
<div class="toolbar">
  % if may('/plans/add'):
  <a href="/plans/add" class="button primary" id="add-plan">{{_("Add")}}</a>
  % end
  % if may('/plans/assign'):
  <a href="/plans/assign" class="button" id="assign-plans">{{_("Assign")}}</a>
  % end
</div>
<p class="hint">{{_("A calling plan gives free minutes each month per call type, used before money. An extension's or account's own plan wins over its department's; the members of a department share its plan's minutes.")}}</p>
% if not plans:
<div class="empty">{{_("No calling plan yet: click Add to make one.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="plan-table">
  <thead><tr><th>{{_("Name")}}</th>
  % for t in types:
    <th class="num">{{_(labels[t])}}</th>
  % end
    <th class="num">{{_("Assigned to")}}</th><th>{{_("Actions")}}</th></tr></thead>
  <tbody>
  % for p in plans:
  <tr data-plan="{{p.id}}"><td class="name" data-label="{{_("Name")}}">{{p.name}}</td>
    % for t in types:
    <td class="num" data-label="{{_(labels[t])}}">{{ngettext("{count} min", "{count} min", p.free_s[t] // 60).format(count=num(p.free_s[t] // 60)) if p.free_s.get(t) else "–"}}</td>
    % end
    <td class="num" data-label="{{_("Assigned to")}}">{{num(counts.get(p.id, 0))}}</td>
    <td class="actions" data-label="{{_("Actions")}}"><a href="/plans/{{p.id}}" class="button small subtle">{{_("Edit")}}</a></td></tr>
  % end
  </tbody>
</table>
</div>
% end
