% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/extensions/adjust" class="panel" id="adjust-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="form_page" value="{{form_page}}">
  <input type="hidden" name="amount" value="{{plain(change)}}">
  <input type="hidden" name="reason" value="{{reason}}">
  <p id="confirm-summary">{{!(_("Raise the balance of {extension} by {amount}?") if change > 0 else _("Lower the balance of {extension} by {amount}?")).format(extension='<strong class="mono">' + escape(ext.number) + '</strong> ' + escape(ext.name), amount='<strong id="confirm-amount">' + escape(fmt(abs(change))) + '</strong>')}}</p>
  % if not ext.billing_enabled:
  <p class="notice" role="alert" id="billing-off-warning">{{_("Billing is off for {number}: its calls are not billed or limited until billing is enabled.").format(number=ext.number)}}</p>
  % end
  <table class="info" id="confirm-table">
    <tr><th>{{_("Balance now")}}</th><td id="balance-before">{{fmt(ext.balance)}}</td></tr>
    <tr><th>{{_("Adjustment")}}</th><td>{{'+' if change > 0 else ''}}{{fmt(change)}}</td></tr>
    <tr><th>{{_("Balance after")}}</th><td id="balance-after">{{fmt(ext.balance + change)}}</td></tr>
    <tr><th>{{_("Reason")}}</th><td>{{reason}}</td></tr>
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-adjust">{{_("Confirm adjustment")}}</button>
    <button type="submit" name="step" value="change" id="change-adjust">{{_("Change it")}}</button>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
