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
  <div class="buttons"><button type="submit" class="primary" id="save-settings">Save</button></div>
</form>
