% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/stays/check-out" class="panel" id="checkout-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="payment" value="{{plain(payment) if payment else ''}}">
  % if close_unknown:
  <input type="hidden" name="close_unknown" value="1">
  <input type="hidden" name="unknown_seen" value="{{unknown}}">
  % end
  <p id="confirm-summary">{{!_("Check {guest} out of {number} and issue the statement?").format(guest='<strong>' + escape(stay.guest) + '</strong>', number='<strong class="mono">' + escape(ext.number) + '</strong>')}}</p>
  <table class="info" id="confirm-table">
    <tr><th>{{_("Balance now")}}</th><td id="balance-before">{{fmt(preview['closing_balance'])}}</td></tr>
    <tr><th>{{_("Payment")}}</th><td id="confirm-payment">{{fmt(payment)}}</td></tr>
    <tr><th>{{_("Balance after")}}</th><td id="balance-after">{{fmt(preview['closing_balance'] + payment)}}</td></tr>
    <tr><th>{{_("Extension after")}}</th><td>{{_(after_status)}}</td></tr>
    % if close_unknown:
    <tr><th>{{_("Calls closed as not charged")}}</th><td id="confirm-closed">{{unknown}}</td></tr>
    % end
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-checkout">{{_("Confirm check-out")}}</button>
    <button type="submit" name="step" value="change" id="change-checkout">{{_("Change it")}}</button>
    <a href="/stays" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
