% rebase('layout.tpl')
<form method="post" action="/settings" class="panel stacked" id="settings-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <fieldset>
    <legend>Currency</legend>
    <p class="hint">Shown on every page and export. Amounts are not converted.</p>
    % for code, cur in currencies.items():
    <label class="tick"><input type="radio" name="currency" value="{{code}}" id="currency-{{code}}" {{'checked' if values['currency'] == code else ''}}> {{cur.label}}</label>
    % end
    % include('field_error.tpl', name='currency')
  </fieldset>
  <label for="timezone">Time zone of the box</label>
  <input id="timezone" name="timezone" value="{{values['timezone']}}" maxlength="64" placeholder="Asia/Shanghai">
  <span class="hint">Used for rate time blocks, the call log and statistics (a name like Europe/Berlin).</span>
  % include('field_error.tpl', name='timezone')
  <fieldset>
    <legend>Calls that no rate matches</legend>
    <p class="hint">A number your rates do not cover (say an international prefix nobody
      priced yet). Allowed calls are free, have no time limit and show as "unrated" in the
      Call Log.</p>
    <label class="tick"><input type="radio" name="unrated_policy" value="deny" id="unrated-deny" {{'checked' if values['unrated_policy'] == 'deny' else ''}}> Deny them</label>
    <label class="tick"><input type="radio" name="unrated_policy" value="allow" id="unrated-allow" {{'checked' if values['unrated_policy'] == 'allow' else ''}}> Allow them, unbilled</label>
    % include('field_error.tpl', name='unrated_policy')
  </fieldset>
  <fieldset>
    <legend>Stays and statements</legend>
    <label for="hotel_name">Hotel name (printed on statements)</label>
    <input id="hotel_name" name="hotel_name" value="{{values['hotel_name']}}" maxlength="80">
    % include('field_error.tpl', name='hotel_name')
    <label for="hotel_address">Address (printed on statements)</label>
    <textarea id="hotel_address" name="hotel_address" rows="3" maxlength="300">{{values['hotel_address']}}</textarea>
    % include('field_error.tpl', name='hotel_address')
    <p class="hint">At check-out the extension is</p>
    <label class="tick"><input type="radio" name="checkout_status" value="locked" id="checkout-locked" {{'checked' if values['checkout_status'] == 'locked' else ''}}> Locked</label>
    <label class="tick"><input type="radio" name="checkout_status" value="unlocked" id="checkout-unlocked" {{'checked' if values['checkout_status'] == 'unlocked' else ''}}> Left unlocked</label>
    % include('field_error.tpl', name='checkout_status')
  </fieldset>
  <div class="buttons"><button type="submit" class="primary" id="save-settings">Save</button></div>
</form>
