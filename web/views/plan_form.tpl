% rebase('layout.tpl')
<form method="post" action="{{'/plans/%d' % plan.id if plan else '/plans/add'}}" class="panel stacked-grid" id="plan-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <div class="field wide">
    <label for="name">{{_("Name")}}</label>
    <input id="name" name="name" value="{{form['name']}}" maxlength="80" required>
  </div>
  % for t in types:
  <div class="field">
    <label for="min_{{t}}">{{_("{type}: free minutes a month").format(type=_(labels[t]))}}</label>
    <input id="min_{{t}}" name="min_{{t}}" value="{{form['minutes'].get(t, '')}}" inputmode="numeric" maxlength="8" placeholder="0">
  </div>
  % end
  <p class="hint wide">{{_("Minutes are counted in the box's local month of a call's start; what a call lasts beyond the free minutes left is charged by its rate.")}}</p>
  <div class="buttons wide">
    <button type="submit" class="primary" id="save-plan">{{_("Save")}}</button>
    <a href="/plans" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
% if plan:
<h2>{{_("Use in {month}").format(month=month)}}</h2>
% if not usage:
<div class="empty">{{_("This plan is assigned to nobody: assign it on the Assign page.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="usage-table">
  <thead><tr><th>{{_("Extension or department")}}</th><th>{{_("Call Type")}}</th><th class="num">{{_("Free")}}</th>
    <th class="num">{{_("Used")}}</th><th class="num">{{_("In calls now")}}</th><th class="num">{{_("Left")}}</th></tr></thead>
  <tbody>
  % for u in usage:
  <tr data-pool="{{u.kind}}-{{u.pool_id}}-{{u.call_type}}"><td class="name" data-label="{{_("Extension or department")}}">{{u.label}}{{(' (' + _("department") + ')') if u.kind == 'department' else ''}}</td>
    <td data-label="{{_("Call Type")}}">{{_(labels[u.call_type])}}</td>
    <td class="num" data-label="{{_("Free")}}">{{dur(u.free_s)}}</td><td class="num used" data-label="{{_("Used")}}">{{dur(u.used_s)}}</td>
    <td class="num" data-label="{{_("In calls now")}}">{{dur(u.reserved_s)}}</td><td class="num" data-label="{{_("Left")}}">{{dur(max(0, u.free_s - u.used_s - u.reserved_s))}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
<form method="post" action="/plans/{{plan.id}}/delete" class="toolbar">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <button type="submit" class="danger" id="delete-plan" data-confirm="{{_("Delete plan {name}?").format(name=plan.name)}}">{{_("Delete")}}</button>
  <span class="hint">{{_("Only a plan assigned to nobody can be deleted.")}}</span>
</form>
% end
