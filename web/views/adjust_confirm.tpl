% rebase('layout.tpl')
<form method="post" action="/extensions/adjust" class="panel" id="adjust-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="form_page" value="{{form_page}}">
  <input type="hidden" name="amount" value="{{plain(change)}}">
  <input type="hidden" name="reason" value="{{reason}}">
  <p id="confirm-summary">{{'Raise' if change > 0 else 'Lower'}} the balance of <strong class="mono">{{ext.number}}</strong> {{ext.name}}
    by <strong id="confirm-amount">{{fmt(abs(change))}}</strong>?</p>
  % if not ext.billing_enabled:
  <p class="notice" role="alert" id="billing-off-warning">Billing is off for {{ext.number}}: its calls are not billed or limited until billing is enabled.</p>
  % end
  <table class="info" id="confirm-table">
    <tr><th>Balance now</th><td id="balance-before">{{fmt(ext.balance)}}</td></tr>
    <tr><th>Adjustment</th><td>{{'+' if change > 0 else ''}}{{fmt(change)}}</td></tr>
    <tr><th>Balance after</th><td id="balance-after">{{fmt(ext.balance + change)}}</td></tr>
    <tr><th>Reason</th><td>{{reason}}</td></tr>
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-adjust">Confirm adjustment</button>
    <button type="submit" name="step" value="change" id="change-adjust">Change it</button>
    <a href="/extensions" class="button subtle">Cancel</a>
  </div>
</form>
