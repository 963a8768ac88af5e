% rebase('layout.tpl')
% if may('/departments/add'):
<form method="post" action="/departments/add" class="searchbar" id="dept-add">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>{{_("New department")}} <input name="name" id="dept-name" value="{{new_name}}" maxlength="200" required></label>
  <button type="submit" class="primary" id="dept-create">{{_("Create")}}</button>
  % include('field_error.tpl', name='name')
</form>
% end
% if not rows:
<div class="empty" id="no-departments">{{_("No departments yet. A department groups extensions and accounts: the Call Log, Recharge History, Statistics and their downloads can then be filtered by it, and a department manager sees only theirs.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="dept-table">
  <thead><tr><th>{{_("Department")}}</th><th class="num">{{_("Members")}}</th><th class="num">{{_("Balances total")}}</th><th>{{_("Actions")}}</th></tr></thead>
  <tbody>
  % for d in rows:
  <tr data-department="{{d.id}}">
    <td class="name" data-label="{{_("Department")}}"><a href="/departments/{{d.id}}">{{d.name}}</a></td>
    <td class="num" data-label="{{_("Members")}}">{{num(d.members)}}</td>
    <td class="num {{'negative' if d.balance < 0 else ''}}" data-label="{{_("Balances total")}}">{{fmt(d.balance)}}</td>
    <td class="actions" data-label="{{_("Actions")}}">
      <a href="/departments/{{d.id}}" class="button small subtle">{{_("Members")}}</a>
      <a href="/extensions?dept={{d.id}}" class="button small subtle">{{_("Extensions")}}</a>
      <a href="/calls?dept={{d.id}}" class="button small subtle">{{_("Call Log")}}</a>
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
