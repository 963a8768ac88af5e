% rebase('layout.tpl')
<div class="panel narrow">
  % if not admin_exists:
  <p class="notice">{{!_("No administrator password is set yet. On the box, run {command}.").format(command='<code>billing-addon admin set-password</code>')}}</p>
  % end
  % if errors.get('form'):
  <p class="error-message" id="login-error" role="alert">{{errors['form']}}</p>
  % end
  <form method="post" action="/login" class="stacked" id="login-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="next" value="{{next}}">
    <label for="username">{{_("User name")}}</label>
    <input id="username" name="username" value="{{username}}" autocomplete="username" required autofocus maxlength="64">
    <label for="password">{{_("Password")}}</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="129">
    <button type="submit" class="primary">{{_("Sign in")}}</button>
  </form>
  <p class="hint">{{!_("Billing users sign in with the {account} account made in the Billing Manager. The PBX administrator signs in as {admin}.").format(account='<code>bill-xxx</code>', admin='<code>admin</code>')}}</p>
</div>
