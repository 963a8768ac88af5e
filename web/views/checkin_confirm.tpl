% rebase('layout.tpl')
<form method="post" action="/stays/check-in" class="panel" id="checkin-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="guest" value="{{guest}}">
  <input type="hidden" name="deposit" value="{{plain(deposit) if deposit else ''}}">
  <input type="hidden" name="credit" value="{{plain(credit) if credit is not None else ''}}">
  <p id="confirm-summary">Check <strong>{{guest}}</strong> in on <strong class="mono">{{ext.number}}</strong>?</p>
  <table class="info" id="confirm-table">
    <tr><th>Guest</th><td>{{guest}}</td></tr>
    <tr><th>Balance now</th><td id="balance-before">{{fmt(ext.balance)}}</td></tr>
    <tr><th>Deposit</th><td id="confirm-deposit">{{fmt(deposit)}}</td></tr>
    <tr><th>Balance after</th><td id="balance-after">{{fmt(ext.balance + deposit)}}</td></tr>
    <tr><th>Credit</th><td>{{fmt(credit) if credit is not None else 'unchanged (' + fmt(ext.credit) + ')'}}</td></tr>
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-checkin">Confirm check-in</button>
    <button type="submit" name="step" value="change" id="change-checkin">Change it</button>
    <a href="/extensions" class="button subtle">Cancel</a>
  </div>
</form>
