% rebase('layout.tpl')
<form method="post" action="/extensions/bulk-edit" class="panel" id="bulk-form"
      data-confirm="{{_("Apply these changes to {count} extension(s)?").format(count=len(selected))}}">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <p>{{_("Tick each property to set on all {count} selected extension(s); the others stay as they are:").format(count=len(selected))}}
  % for e in selected[:30]:
    <span class="chip mono">{{e.number}}</span><input type="hidden" name="n" value="{{e.number}}">
  % end
  % for e in selected[30:]:
    <input type="hidden" name="n" value="{{e.number}}">
  % end
  {{_("and {count} more").format(count=len(selected) - 30) if len(selected) > 30 else ''}}</p>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_billing" value="1" id="set_billing" {{'checked' if form.get('set_billing') == '1' else ''}}> {{_("Enabling Billing")}}</label>
    <label class="switch"><input type="checkbox" name="billing_enabled" value="1" id="billing_enabled" {{'checked' if form.get('billing_enabled') == '1' else ''}}><span class="slider"></span><span class="switch-label">{{_("Billing on")}}</span></label>
  </div>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_account_billing" value="1" id="set_account_billing" {{'checked' if form.get('set_account_billing') == '1' else ''}}> {{_("Account billing")}}</label>
    <label class="switch"><input type="checkbox" name="account_billing" value="1" id="account_billing" {{'checked' if form.get('account_billing') == '1' else ''}}><span class="slider"></span><span class="switch-label">{{_("Calls ask for an account and PIN")}}</span></label>
  </div>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_credit" value="1" id="set_credit" {{'checked' if form.get('set_credit') == '1' else ''}}> {{_("Credit")}}</label>
    <input name="credit" id="credit" value="{{form.get('credit', '')}}" inputmode="decimal" placeholder="0.00" maxlength="20" aria-label="{{_("Credit")}}">
    % include('field_error.tpl', name='credit')
  </div>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_status" value="1" id="set_status" {{'checked' if form.get('set_status') == '1' else ''}}> {{_("Status")}}</label>
    <select name="status" id="status" aria-label="{{_("Status")}}">
      <option value="unlocked" {{'selected' if form.get('status') != 'locked' else ''}}>{{_("Unlocked")}}</option>
      <option value="locked" {{'selected' if form.get('status') == 'locked' else ''}}>{{_("Locked")}}</option>
    </select>
    % include('field_error.tpl', name='status')
  </div>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_payment_type" value="1" id="set_payment_type" {{'checked' if form.get('set_payment_type') == '1' else ''}}> {{_("Payment Type")}}</label>
    <select name="payment_type" id="payment_type" aria-label="{{_("Payment Type")}}">
      <option value="prepaid" {{'selected' if form.get('payment_type') != 'postpaid' else ''}}>{{_("Prepaid")}}</option>
      <option value="postpaid" {{'selected' if form.get('payment_type') == 'postpaid' else ''}}>{{_("Postpaid")}}</option>
    </select>
    % include('field_error.tpl', name='payment_type')
    <span class="hint">{{_("Changing the payment type resets Total Recharges.")}}</span>
  </div>
  <div class="bulk-row">
    <label class="tick"><input type="checkbox" name="set_low_threshold" value="1" id="set_low_threshold" {{'checked' if form.get('set_low_threshold') == '1' else ''}}> {{_("Low-balance threshold ({currency})").format(currency=currency_label)}}</label>
    <input name="low_threshold" id="low_threshold" value="{{form.get('low_threshold', '')}}" inputmode="decimal" maxlength="20" placeholder="{{default_threshold or _("off")}}" aria-label="{{_("Low-balance threshold ({currency})").format(currency=currency_label)}}">
    % include('field_error.tpl', name='low_threshold')
  </div>
  % include('department_field.tpl', bulk=True)
  % include('barred_types.tpl', bulk=True)
  <div class="buttons">
    <button type="submit" class="primary" id="save-bulk">{{_("Save")}}</button>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
