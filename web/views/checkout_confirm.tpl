% rebase('layout.tpl')
<form method="post" action="/stays/check-out" class="panel" id="checkout-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="payment" value="{{plain(payment) if payment else ''}}">
  <p id="confirm-summary">Check <strong>{{stay.guest}}</strong> out of <strong class="mono">{{ext.number}}</strong>
    and issue the statement?</p>
  <table class="info" id="confirm-table">
    <tr><th>Balance now</th><td id="balance-before">{{fmt(preview['closing_balance'])}}</td></tr>
    <tr><th>Payment</th><td id="confirm-payment">{{fmt(payment)}}</td></tr>
    <tr><th>Balance after</th><td id="balance-after">{{fmt(preview['closing_balance'] + payment)}}</td></tr>
    <tr><th>Extension after</th><td>{{after_status}}</td></tr>
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-checkout">Confirm check-out</button>
    <button type="submit" name="step" value="change" id="change-checkout">Change it</button>
    <a href="/stays" class="button subtle">Cancel</a>
  </div>
</form>
