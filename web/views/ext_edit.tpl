% rebase('layout.tpl')
<form method="post" action="/extensions/edit" class="panel stacked-grid" id="ext-edit-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <div class="field"><label>{{_("Extension")}}</label><span class="mono value">{{ext.number}}</span></div>
  <div class="field"><label>{{_("Balance")}}</label><span class="value">{{fmt(ext.balance)}}</span></div>
  <div class="field">
    <label for="name">{{_("Name")}}</label>
    <input id="name" name="name" value="{{form.get('name', '')}}" maxlength="200">
    % include('field_error.tpl', name='name')
  </div>
  <div class="field">
    <label for="billing_enabled">{{_("Billing")}}</label>
    <label class="switch"><input type="checkbox" name="billing_enabled" value="1" id="billing_enabled" {{'checked' if form.get('billing_enabled') == '1' else ''}}><span class="slider"></span><span class="switch-label">{{_("Enabled")}}</span></label>
  </div>
  <div class="field">
    <label for="account_billing">{{_("Account billing")}}</label>
    <label class="switch"><input type="checkbox" name="account_billing" value="1" id="account_billing" {{'checked' if form.get('account_billing') == '1' else ''}}><span class="slider"></span><span class="switch-label">{{_("Calls ask for an account and PIN")}}</span></label>
  </div>
  <div class="field">
    <label for="credit">{{_("Credit ({currency})").format(currency=currency_label)}}</label>
    <input id="credit" name="credit" value="{{form.get('credit', '')}}" inputmode="decimal" maxlength="20">
    % include('field_error.tpl', name='credit')
  </div>
  <div class="field">
    <label for="low_threshold">{{_("Low-balance threshold ({currency})").format(currency=currency_label)}}</label>
    <input id="low_threshold" name="low_threshold" value="{{form.get('low_threshold', '')}}" inputmode="decimal" maxlength="20" placeholder="{{default_threshold or _("off")}}">
    % include('field_error.tpl', name='low_threshold')
    <span class="hint">{{_("Below it the caller hears the top-up prompt and an e-mail goes out. Empty: the Settings default ({default}).").format(default=default_threshold or _("off"))}}</span>
  </div>
  % include('department_field.tpl', bulk=False)
  <div class="field">
    <label for="status">{{_("Status")}}</label>
    <select id="status" name="status">
      <option value="unlocked" {{'selected' if form.get('status') != 'locked' else ''}}>{{_("Unlocked")}}</option>
      <option value="locked" {{'selected' if form.get('status') == 'locked' else ''}}>{{_("Locked")}}</option>
    </select>
    % include('field_error.tpl', name='status')
  </div>
  <div class="field">
    <label for="payment_type">{{_("Payment Type")}}</label>
    <select id="payment_type" name="payment_type">
      <option value="prepaid" {{'selected' if form.get('payment_type') != 'postpaid' else ''}}>{{_("Prepaid")}}</option>
      <option value="postpaid" {{'selected' if form.get('payment_type') == 'postpaid' else ''}}>{{_("Postpaid")}}</option>
    </select>
    % include('field_error.tpl', name='payment_type')
    <span class="hint">{{_("Changing it resets Total Recharges. Postpaid extensions need enough credit to call.")}}</span>
  </div>
  % include('barred_types.tpl', bulk=False)
  % include('ext_plan.tpl')
  <div class="buttons">
    <button type="submit" class="primary" id="save-ext">{{_("Save")}}</button>
    <a href="/extensions/recharge?n={{qs(ext.number)}}" class="button">{{_("Recharge")}}</a>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
