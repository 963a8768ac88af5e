% rebase('layout.tpl')
<form method="post" action="/account/password" class="panel stacked" id="password-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p class="hint">{{_("Your other signed-in browsers are signed out when the password changes.")}}</p>
  <label for="current">{{_("Current password")}}</label>
  <input id="current" name="current" type="password" autocomplete="current-password" required maxlength="129">
  % include('field_error.tpl', name='current')
  <label for="new">{{_("New password")}}</label>
  <input id="new" name="new" type="password" autocomplete="new-password" required minlength="{{min_length}}" maxlength="128">
  <span class="hint">{{_("At least {count} characters.").format(count=min_length)}}</span>
  % include('field_error.tpl', name='new')
  <label for="again">{{_("New password again")}}</label>
  <input id="again" name="again" type="password" autocomplete="new-password" required maxlength="128">
  % include('field_error.tpl', name='again')
  <div class="buttons"><button type="submit" class="primary" id="change-password">{{_("Change password")}}</button></div>
</form>
