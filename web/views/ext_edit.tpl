% rebase('layout.tpl')
<form method="post" action="/extensions/edit" class="panel stacked-grid" id="ext-edit-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <div class="field"><label>Extension</label><span class="mono value">{{ext.number}}</span></div>
  <div class="field"><label>Balance</label><span class="value">{{fmt(ext.balance)}}</span></div>
  <div class="field">
    <label for="name">Name</label>
    <input id="name" name="name" value="{{form.get('name', '')}}" maxlength="200">
    % include('field_error.tpl', name='name')
  </div>
  <div class="field">
    <label for="billing_enabled">Billing</label>
    <label class="switch"><input type="checkbox" name="billing_enabled" value="1" id="billing_enabled" {{'checked' if form.get('billing_enabled') == '1' else ''}}><span class="slider"></span><span class="switch-label">Enabled</span></label>
  </div>
  <div class="field">
    <label for="credit">Credit ({{currency_label}})</label>
    <input id="credit" name="credit" value="{{form.get('credit', '')}}" inputmode="decimal" maxlength="20">
    % include('field_error.tpl', name='credit')
  </div>
  <div class="field">
    <label for="low_threshold">Low-balance threshold ({{currency_label}})</label>
    <input id="low_threshold" name="low_threshold" value="{{form.get('low_threshold', '')}}" inputmode="decimal" maxlength="20" placeholder="{{default_threshold or 'off'}}">
    % include('field_error.tpl', name='low_threshold')
    <span class="hint">Below it the caller hears the top-up prompt and an e-mail goes out. Empty: the Settings default ({{default_threshold or 'off'}}).</span>
  </div>
  <div class="field">
    <label for="status">Status</label>
    <select id="status" name="status">
      <option value="unlocked" {{'selected' if form.get('status') != 'locked' else ''}}>Unlocked</option>
      <option value="locked" {{'selected' if form.get('status') == 'locked' else ''}}>Locked</option>
    </select>
    % include('field_error.tpl', name='status')
  </div>
  <div class="field">
    <label for="payment_type">Payment Type</label>
    <select id="payment_type" name="payment_type">
      <option value="prepaid" {{'selected' if form.get('payment_type') != 'postpaid' else ''}}>Prepaid</option>
      <option value="postpaid" {{'selected' if form.get('payment_type') == 'postpaid' else ''}}>Postpaid</option>
    </select>
    % include('field_error.tpl', name='payment_type')
    <span class="hint">Changing it resets Total Recharges. Postpaid extensions need enough credit to call.</span>
  </div>
  <div class="buttons">
    <button type="submit" class="primary" id="save-ext">Save</button>
    <a href="/extensions/recharge?n={{qs(ext.number)}}" class="button">Recharge</a>
    <a href="/extensions" class="button subtle">Cancel</a>
  </div>
</form>
