% rebase('layout.tpl')
% if created:
<div class="panel created" id="created-user" role="status">
  <p>User name <strong class="mono" id="new-username">{{created[0]}}</strong>
     password <strong class="mono" id="new-password">{{created[1]}}</strong></p>
  <p class="hint">Write the password down now: it is shown only once. It can be changed here at any time.</p>
</div>
% end
% if confirm_random:
<div class="panel" id="confirm-random" role="alert">
  <p>The password field was empty. Give <strong class="mono">{{confirm_random}}</strong> a new
     random password? Their old password stops working and they are signed out at once.</p>
  <form method="post" action="/admin/users/password" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="username" value="{{confirm_random}}">
    <input type="hidden" name="random" value="1">
    <button type="submit" class="primary" id="confirm-random-password">Set a random password</button>
    <a href="/admin/users" class="button">Cancel</a>
  </form>
</div>
% end
<div class="toolbar">
  <form method="post" action="/admin/users/add" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit" class="primary" id="create-user">Create billing user</button>
  </form>
</div>
% if not users:
<div class="empty">No billing user yet. Create one: the user name is made as <code>bill-xxx</code> with a random password.</div>
% else:
<div class="table-wrap">
<table class="list" id="user-table">
  <thead><tr><th>User name</th><th>Status</th><th>Created</th><th>Change password</th><th>{{_("Language")}}</th><th></th></tr></thead>
  <tbody>
  % for u in users:
  <tr data-user="{{u.username}}">
    <td class="mono">{{u.username}}</td>
    <td><span class="badge {{'on' if u.enabled else 'locked'}}">{{'Enabled' if u.enabled else 'Disabled'}}</span></td>
    <td>{{when(u.created_utc)}}</td>
    <td>
      <form method="post" action="/admin/users/password" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <input type="password" name="password" placeholder="new (empty = random)" autocomplete="new-password" aria-label="New password for {{u.username}}" maxlength="129">
        <button type="submit" class="small">Change</button>
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
    <td>
      <form method="post" action="/admin/users/enabled" class="inline"
            data-confirm="{{('Disable ' + u.username + '? The user is signed out at once.') if u.enabled else ''}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="username" value="{{u.username}}">
        <input type="hidden" name="enabled" value="{{'0' if u.enabled else '1'}}">
        <button type="submit" class="small {{'danger' if u.enabled else ''}}">{{'Disable' if u.enabled else 'Enable'}}</button>
      </form>
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
