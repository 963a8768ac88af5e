% rebase('layout.tpl')
<form method="post" action="/settings" class="panel stacked" id="settings-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <fieldset>
    <legend>{{_("Currency")}}</legend>
    <p class="hint">{{_("Shown on every page and export. Amounts are not converted.")}}</p>
    % for code, label in currencies.items():
    <label class="tick"><input type="radio" name="currency" value="{{code}}" id="currency-{{code}}" {{'checked' if values['currency'] == code else ''}}> {{label}}</label>
    % end
    % include('field_error.tpl', name='currency')
  </fieldset>
  <label for="language">{{_("Language of the box")}}</label>
  <select id="language" name="language">
    % for code, name in language_names.items():
    <option value="{{code}}" lang="{{code.replace('_', '-')}}" {{'selected' if values['language'] == code else ''}}>{{name}}</option>
    % end
  </select>
  <span class="hint">{{_("For the sign-in page, the administrator and every billing user who has not chosen a language (Your account).")}}</span>
  % include('field_error.tpl', name='language')
  <label for="timezone">{{_("Time zone of the box")}}</label>
  <input id="timezone" name="timezone" value="{{values['timezone']}}" maxlength="64" placeholder="Asia/Shanghai">
  <span class="hint">{{_("Used for rate time blocks, the call log and statistics (a name like Europe/Berlin).")}}</span>
  % include('field_error.tpl', name='timezone')
  <fieldset>
    <legend>{{_("Calls that no rate matches")}}</legend>
    <p class="hint">{{_('A number your rates do not cover (say an international prefix nobody priced yet). Allowed calls are free, have no time limit and show as "unrated" in the Call Log.')}}</p>
    <label class="tick"><input type="radio" name="unrated_policy" value="deny" id="unrated-deny" {{'checked' if values['unrated_policy'] == 'deny' else ''}}> {{_("Deny them")}}</label>
    <label class="tick"><input type="radio" name="unrated_policy" value="allow" id="unrated-allow" {{'checked' if values['unrated_policy'] == 'allow' else ''}}> {{_("Allow them, unbilled")}}</label>
    % include('field_error.tpl', name='unrated_policy')
  </fieldset>
  <fieldset>
    <legend>{{_("Stays and statements")}}</legend>
    <label for="hotel_name">{{_("Hotel name (printed on statements)")}}</label>
    <input id="hotel_name" name="hotel_name" value="{{values['hotel_name']}}" maxlength="80">
    % include('field_error.tpl', name='hotel_name')
    <label for="hotel_address">{{_("Address (printed on statements)")}}</label>
    <textarea id="hotel_address" name="hotel_address" rows="3" maxlength="300">{{values['hotel_address']}}</textarea>
    % include('field_error.tpl', name='hotel_address')
    <p class="hint">{{_("At check-out the extension is")}}</p>
    <label class="tick"><input type="radio" name="checkout_status" value="locked" id="checkout-locked" {{'checked' if values['checkout_status'] == 'locked' else ''}}> {{_("Locked")}}</label>
    <label class="tick"><input type="radio" name="checkout_status" value="unlocked" id="checkout-unlocked" {{'checked' if values['checkout_status'] == 'unlocked' else ''}}> {{_("Left unlocked")}}</label>
    % include('field_error.tpl', name='checkout_status')
  </fieldset>
  <fieldset id="pin-accounts">
    <legend>{{_("Accounts")}}</legend>
    <label for="pin_length">{{_("PIN digits")}}</label>
    <input id="pin_length" name="pin_length" value="{{values['pin_length']}}" inputmode="numeric" maxlength="2">
    % include('field_error.tpl', name='pin_length')
    <p class="hint">{{_("The length of every account's PIN (4 to 12). PINs already set keep their length: give those accounts new PINs.")}}</p>
  </fieldset>
  <fieldset id="low-balance">
    <legend>{{_("Low balance")}}</legend>
    <p class="hint">{{_("Below its threshold an extension's caller hears the top-up prompt before each call, the Extensions page counts it, and one e-mail goes out each time it falls below (not for every call). An extension can have its own threshold (Edit).")}}</p>
    <label for="low_balance_threshold">{{_("Default threshold")}}</label>
    <input id="low_balance_threshold" name="low_balance_threshold" value="{{values['low_balance_threshold']}}" inputmode="decimal" maxlength="20" placeholder="{{_("off")}}">
    <span class="hint">{{_("Empty: no low-balance alerts for extensions without a threshold of their own.")}}</span>
    % include('field_error.tpl', name='low_balance_threshold')
    <label for="alert_emails">{{_("Send the e-mails to")}}</label>
    <input id="alert_emails" name="alert_emails" value="{{values['alert_emails']}}" maxlength="1000" placeholder="frontdesk@example.org, manager@example.org">
    % include('field_error.tpl', name='alert_emails')
  </fieldset>
  <fieldset id="smtp">
    <legend>{{_("E-mail server (SMTP)")}}</legend>
    <label for="smtp_host">{{_("Server")}}</label>
    <input id="smtp_host" name="smtp_host" value="{{values['smtp_host']}}" maxlength="253" placeholder="mail.example.org">
    % include('field_error.tpl', name='smtp_host')
    <label for="smtp_port">{{_("Port")}}</label>
    <input id="smtp_port" name="smtp_port" value="{{values['smtp_port']}}" maxlength="5" inputmode="numeric">
    % include('field_error.tpl', name='smtp_port')
    <label for="smtp_security">{{_("Security")}}</label>
    <select id="smtp_security" name="smtp_security">
      % for choice, label in (('starttls', _("STARTTLS (usually port 587)")), ('tls', _("TLS (usually port 465)")), ('none', _("None (usually port 25)"))):
      <option value="{{choice}}" {{'selected' if values['smtp_security'] == choice else ''}}>{{label}}</option>
      % end
    </select>
    % include('field_error.tpl', name='smtp_security')
    <label for="smtp_user">{{_("User name")}}</label>
    <input id="smtp_user" name="smtp_user" value="{{values['smtp_user']}}" maxlength="200" autocomplete="off">
    % include('field_error.tpl', name='smtp_user')
    <label for="smtp_password">{{_("Password")}}</label>
    <input id="smtp_password" name="smtp_password" type="password" value="" maxlength="200" autocomplete="new-password" placeholder="{{_("(set; leave empty to keep it)") if password_set else ''}}">
    % if password_set:
    <label class="tick"><input type="checkbox" name="clear_password" value="1" id="clear-password"> {{_("Remove the stored password")}}</label>
    % end
    % include('field_error.tpl', name='smtp_password')
    <label for="smtp_from">{{_("Sender address")}}</label>
    <input id="smtp_from" name="smtp_from" value="{{values['smtp_from']}}" maxlength="254" placeholder="{{_("the user name")}}">
    % include('field_error.tpl', name='smtp_from')
  </fieldset>
  <div class="buttons"><button type="submit" class="primary" id="save-settings">{{_("Save")}}</button></div>
</form>
<form method="post" action="/settings/test-mail" class="panel" id="test-mail-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p class="hint">{{_("Sends a test e-mail to the addresses above with the saved settings (save first).")}}</p>
  <button type="submit" id="send-test-mail">{{_("Send a test e-mail")}}</button>
  % if mail_failures:
  <h3>{{_("E-mails not sent yet")}}</h3>
  <table class="grid" id="mail-failures">
    <tr><th>{{_("Subject")}}</th><th>{{_("Tries")}}</th><th>{{_("Last error")}}</th><th>{{_("Next try")}}</th></tr>
    % for mail in mail_failures:
    <tr><td>{{mail.subject}}</td><td>{{mail.attempts}}</td><td>{{mail.last_error}}</td><td>{{when(mail.next_try_utc)}}</td></tr>
    % end
  </table>
  % end
</form>
