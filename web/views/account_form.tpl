% rebase('layout.tpl')
<form method="post" action="{{'/accounts/edit' if account else '/accounts/new'}}" class="panel stacked-grid" id="account-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  % if account:
  <input type="hidden" name="n" value="{{account.number}}">
  <div class="field"><label>{{_("Account")}}</label><span class="mono value">{{account.number}}</span></div>
  <div class="field"><label>{{_("Balance")}}</label><span class="value">{{fmt(account.balance)}}</span></div>
  % else:
  <div class="field">
    <label for="number">{{_("Account number")}}</label>
    <input id="number" name="number" value="{{form.get('number', '')}}" inputmode="numeric" maxlength="20" required>
    <span class="hint">{{_("Digits only: the caller types it on the phone.")}}</span>
  </div>
  % end
  <div class="field">
    <label for="pin">{{_("PIN")}}</label>
    <input id="pin" name="pin" type="password" value="" inputmode="numeric" autocomplete="new-password" maxlength="20" {{'required' if not account else ''}}>
    % include('field_error.tpl', name='pin')
    <span class="hint">{{_("{length} digits, unique on this box; never shown again.").format(length=pin_length)}}{{(' ' + _("Empty: the PIN stays as it is.")) if account else ''}}</span>
  </div>
  <div class="field">
    <label for="name">{{_("Name")}}</label>
    <input id="name" name="name" value="{{form.get('name', '')}}" maxlength="200">
    % include('field_error.tpl', name='name')
  </div>
  <div class="field">
    <label for="payment_type">{{_("Payment Type")}}</label>
    <select id="payment_type" name="payment_type">
      <option value="prepaid" {{'selected' if form.get('payment_type') != 'postpaid' else ''}}>{{_("Prepaid")}}</option>
      <option value="postpaid" {{'selected' if form.get('payment_type') == 'postpaid' else ''}}>{{_("Postpaid")}}</option>
    </select>
    % include('field_error.tpl', name='payment_type')
  </div>
  <div class="field">
    <label for="credit">{{_("Credit ({currency})").format(currency=currency_label)}}</label>
    <input id="credit" name="credit" value="{{form.get('credit', '')}}" inputmode="decimal" maxlength="20">
    % include('field_error.tpl', name='credit')
  </div>
  % include('account_sites.tpl')
  <div class="field">
    <label for="status">{{_("Status")}}</label>
    <select id="status" name="status">
      <option value="unlocked" {{'selected' if form.get('status') != 'locked' else ''}}>{{_("Unlocked")}}</option>
      <option value="locked" {{'selected' if form.get('status') == 'locked' else ''}}>{{_("Locked")}}</option>
    </select>
    % include('field_error.tpl', name='status')
  </div>
  <div class="buttons">
    <button type="submit" class="primary" id="save-account">{{_("Save")}}</button>
    % if account:
    <a href="/extensions/recharge?n={{qs(account.number)}}&amp;back=/accounts" class="button">{{_("Recharge")}}</a>
    % end
    <a href="/accounts" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
% if account:
<form method="post" action="/accounts/delete" class="inline" id="delete-account" data-confirm="{{_("Delete account {number}?").format(number=account.number)}}">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{account.number}}">
  <button type="submit" class="subtle">{{_("Delete")}}</button>
  <span class="hint">{{_("Only an account without calls or recharges can be deleted; lock it instead.")}}</span>
</form>
% end
