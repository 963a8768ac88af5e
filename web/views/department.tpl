% rebase('layout.tpl')
<p><a href="/departments">{{_("All departments")}}</a> ·
  <a href="/extensions?dept={{dept.id}}">{{_("Extensions")}}</a> ·
  <a href="/calls?dept={{dept.id}}">{{_("Call Log")}}</a> ·
  <a href="/recharges?dept={{dept.id}}">{{_("Recharge History")}}</a> ·
  <a href="/statistics?dept={{dept.id}}">{{_("Statistics")}}</a></p>
<div class="cards">
  <div class="card"><span class="card-label">{{_("Members")}}</span><span class="card-value" id="dept-members">{{num(dept.members)}}</span></div>
  <div class="card"><span class="card-label">{{_("Balances total")}}</span><span class="card-value" id="dept-balance">{{fmt(dept.balance)}}</span></div>
</div>
% if may('/departments/<dept_id:int>/rename'):
<form method="post" action="/departments/{{dept.id}}/rename" class="searchbar" id="dept-rename">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>{{_("Name")}} <input name="name" id="dept-new-name" value="{{form['name']}}" maxlength="200" required></label>
  <button type="submit" id="dept-rename-save">{{_("Rename")}}</button>
  % include('field_error.tpl', name='name')
</form>
<form method="post" action="/departments/{{dept.id}}/members" class="panel" id="dept-add-members">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="dept-numbers">{{_("Add extensions or accounts (numbers separated by spaces, commas or new lines; one in another department moves here)")}}</label>
  <textarea name="numbers" id="dept-numbers" rows="3">{{form['numbers']}}</textarea>
  % include('field_error.tpl', name='numbers')
  <div class="buttons"><button type="submit" class="primary" id="dept-add-save">{{_("Add")}}</button></div>
</form>
% end
<form method="post" action="/departments/{{dept.id}}/members" id="dept-member-list">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="remove" value="1">
  % if not members:
  <div class="empty" id="dept-empty">{{_("No extensions or accounts in this department yet.")}}</div>
  % else:
  <div class="table-wrap">
  <table class="list stack" id="dept-member-table">
    <thead><tr><th class="check"><input type="checkbox" data-select-all="n" aria-label="{{_("Select all")}}"></th>
      <th>{{_("Extension")}}</th><th>{{_("Name")}}</th><th>{{_("Kind")}}</th><th class="num">{{_("Balance")}}</th></tr></thead>
    <tbody>
    % for number, name, kind, balance in members:
    <tr data-number="{{number}}">
      <td class="check" data-label="{{_("Select")}}"><input type="checkbox" name="n" value="{{number}}" aria-label="{{_("Select {number}").format(number=number)}}"></td>
      <td class="mono" data-label="{{_("Extension")}}">{{number}}</td>
      <td class="name" data-label="{{_("Name")}}">{{name}}</td>
      <td data-label="{{_("Kind")}}">{{_("Account") if kind == 'account' else _("Extension")}}</td>
      <td class="num {{'negative' if balance < 0 else ''}}" data-label="{{_("Balance")}}">{{fmt(balance)}}</td>
    </tr>
    % end
    </tbody>
  </table>
  </div>
  <div class="buttons">
    <button type="submit" id="dept-remove-selected">{{_("Remove selected from the department")}}</button>
    <button type="submit" name="remove_all" value="1" id="dept-remove-all">{{_("Remove all members")}}</button>
  </div>
  % end
</form>
% if may('/departments/<dept_id:int>/delete'):
<form method="post" action="/departments/{{dept.id}}/delete" class="buttons" id="dept-delete-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <button type="submit" class="danger" id="dept-delete">{{_("Delete department")}}</button>
  % if dept.members:
  <span class="hint">{{ngettext("It still has {count} member: remove it first.", "It still has {count} members: remove them first.", dept.members).format(count=dept.members)}}</span>
  % end
</form>
% end
