    <td>
      <form method="post" action="/admin/users/role" class="inline user-role" data-user="{{u.username}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <select name="role" aria-label="{{_("Role of {user}").format(user=u.username)}}">
          % for code, label in role_labels.items():
          <option value="{{code}}" {{'selected' if u.role == code else ''}}>{{_(label)}}</option>
          % end
        </select>
        % if all_departments:
        <span class="hint">{{_("Manages:")}}</span>
        % for dept_id, dept_name in all_departments:
        <label class="tick"><input type="checkbox" name="department" value="{{dept_id}}" {{'checked' if dept_id in managed.get(u.id, []) else ''}}> {{dept_name}}</label>
        % end
        % elif u.role == 'manager':
        <span class="hint">{{_("No departments yet: create them on the billing user's Departments page.")}}</span>
        % end
        <button type="submit" class="small">{{_("Save")}}</button>
      </form>
    </td>
