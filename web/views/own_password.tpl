% rebase('layout.tpl')
<form method="post" action="/account/password" class="panel stacked" id="password-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p class="hint">Your other signed-in browsers are signed out when the password changes.</p>
  <label for="current">Current password</label>
  <input id="current" name="current" type="password" autocomplete="current-password" required maxlength="129">
  % include('field_error.tpl', name='current')
  <label for="new">New password</label>
  <input id="new" name="new" type="password" autocomplete="new-password" required minlength="{{min_length}}" maxlength="128">
  <span class="hint">At least {{min_length}} characters.</span>
  % include('field_error.tpl', name='new')
  <label for="again">New password again</label>
  <input id="again" name="again" type="password" autocomplete="new-password" required maxlength="128">
  % include('field_error.tpl', name='again')
  <div class="buttons"><button type="submit" class="primary" id="change-password">Change password</button></div>
</form>
