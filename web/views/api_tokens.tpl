% rebase('layout.tpl')
% if secret:
<div class="flash ok" id="token-secret-box">
  <p>{{_("Token {name} made. Copy its secret now: it is shown only this once, and the box keeps only a fingerprint of it.").format(name=made.name)}}</p>
  <p><code id="token-secret">{{secret}}</code></p>
  <p>{{_("Programs send it as the header Authorization: Bearer followed by the secret (docs/api.md).")}}</p>
</div>
% end
% if may('/api-tokens'):
<form method="post" action="/api-tokens" class="searchbar" id="token-add">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>{{_("Name")}} <input name="name" id="token-name" value="{{form['name']}}" maxlength="80" required></label>
  <label>{{_("Role")}} <select name="role" id="token-role">
    % for value, label in role_labels.items():
    <option value="{{value}}" {{'selected' if form['role'] == value else ''}}>{{_(label)}}</option>
    % end
  </select></label>
  % if all_departments:
  <label>{{_("Departments (for a department manager)")}} <select name="departments" id="token-departments" multiple>
    % for dept_id, name in all_departments:
    <option value="{{dept_id}}" {{'selected' if str(dept_id) in form['departments'] else ''}}>{{name}}</option>
    % end
  </select></label>
  % end
  <button type="submit" class="primary" id="token-create">{{_("Create token")}}</button>
  % include('field_error.tpl', name='form')
</form>
% end
% if not tokens:
<div class="empty" id="no-tokens">{{_("No API tokens yet. A token lets a program (a hotel's property-management system, a payment kiosk) use the box's JSON API with the rights of its role.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="token-table">
  <thead><tr><th>{{_("Name")}}</th><th>{{_("Role")}}</th><th>{{_("Created")}}</th><th>{{_("Last used")}}</th><th>{{_("Status")}}</th><th>{{_("Actions")}}</th></tr></thead>
  <tbody>
  % for t in tokens:
  <tr data-token="{{t.id}}">
    <td class="name" data-label="{{_("Name")}}">{{t.name}}</td>
    <td data-label="{{_("Role")}}">{{_(role_labels.get(t.role, t.role))}}{{(": " + ", ".join(name for dept_id, name in all_departments if dept_id in t.departments)) if t.departments else ""}}</td>
    <td data-label="{{_("Created")}}">{{when(t.created_utc)}} {{t.created_by}}</td>
    <td data-label="{{_("Last used")}}">{{when(t.last_used_utc) if t.last_used_utc else _("never")}}</td>
    <td data-label="{{_("Status")}}" class="token-status">{{_("revoked {time}").format(time=when(t.revoked_utc)) if t.revoked_utc else _("active")}}</td>
    <td class="actions" data-label="{{_("Actions")}}">
      % if not t.revoked_utc and may('/api-tokens/<token_id:int>/revoke'):
      <form method="post" action="/api-tokens/{{t.id}}/revoke" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="small danger" data-confirm="{{_("Revoke this token? Programs using it are refused at once.")}}">{{_("Revoke")}}</button>
      </form>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
