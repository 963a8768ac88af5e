% rebase('layout.tpl')
% from bottle import html_escape as e
% if created:
<div class="panel created" id="created-user" role="status">
  <p>{{_("User name")}} <strong class="mono" id="new-username">{{created[0]}}</strong>
     {{_("password")}} <strong class="mono" id="new-password">{{created[1]}}</strong></p>
  <p class="hint">{{_("Write the password down now: it is shown only once. It can be changed here at any time.")}}</p>
</div>
% end
% if confirm_random:
<div class="panel" id="confirm-random" role="alert">
  <p>{{!_('The password field was empty. Give <strong class="mono">{user}</strong> a new random password? Their old password stops working and they are signed out at once.').format(user=e(confirm_random))}}</p>
  <form method="post" action="/admin/users/password" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="username" value="{{confirm_random}}">
    <input type="hidden" name="random" value="1">
    <button type="submit" class="primary" id="confirm-random-password">{{_("Set a random password")}}</button>
    <a href="/admin/users" class="button">{{_("Cancel")}}</a>
  </form>
</div>
% end
<div class="toolbar">
  <form method="post" action="/admin/users/add" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <select name="role" id="create-role" aria-label="{{_("Role")}}">
      % for code, label in role_labels.items():
      <option value="{{code}}">{{_(label)}}</option>
      % end
    </select>
    <button type="submit" class="primary" id="create-user">{{_("Create billing user")}}</button>
  </form>
</div>
% if not users:
<div class="empty">{{!_("No billing user yet. Create one: the user name is made as <code>bill-xxx</code> with a random password.")}}</div>
% else:
<div class="table-wrap">
<table class="list" id="user-table">
  <thead><tr><th>{{_("User name")}}</th><th>{{_("Status")}}</th><th>{{_("Created")}}</th><th>{{_("Change password")}}</th><th>{{_("Language")}}</th><th>{{_("Role")}}</th><th></th></tr></thead>
  <tbody>
  % for u in users:
  <tr data-user="{{u.username}}">
    <td class="mono">{{u.username}}</td>
    <td><span class="badge {{'on' if u.enabled else 'locked'}}">{{_("Enabled") if u.enabled else _("Disabled")}}</span></td>
    <td>{{when(u.created_utc)}}</td>
    <td>
      <form method="post" action="/admin/users/password" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <input type="password" name="password" placeholder="{{_("new (empty = random)")}}" autocomplete="new-password" aria-label="{{_("New password for {user}").format(user=u.username)}}" maxlength="129">
        <button type="submit" class="small">{{_("Change")}}</button>
      </form>
      % if errors.get(u.username):
      <span class="field-error" role="alert">{{errors[u.username]}}</span>
      % end
    </td>
    <td>
      <form method="post" action="/admin/users/locale" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <select name="locale" aria-label="{{_("Language of {user}").format(user=u.username)}}">
          <option value="" {{'selected' if not u.locale else ''}}>{{_("The box's default ({language})").format(language=language_names[box_default])}}</option>
          % for code, name in language_names.items():
          <option value="{{code}}" lang="{{code.replace('_', '-')}}" {{'selected' if u.locale == code else ''}}>{{name}}</option>
          % end
        </select>
        <button type="submit" class="small">{{_("Save")}}</button>
      </form>
    </td>
    % include('user_role.tpl')
    <td>
      <form method="post" action="/admin/users/enabled" class="inline"
            data-confirm="{{_("Disable {user}? The user is signed out at once.").format(user=u.username) if u.enabled else ''}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <input type="hidden" name="enabled" value="{{'0' if u.enabled else '1'}}">
        <button type="submit" class="small {{'danger' if u.enabled else ''}}">{{_("Disable") if u.enabled else _("Enable")}}</button>
      </form>
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
