% rebase('layout.tpl')
<form method="post" action="/stays/check-out" class="panel stacked" id="checkout-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  % if preview['in_progress']:
  <p class="notice" role="alert" id="in-progress">{{preview['in_progress']}} call(s) of {{ext.number}} are in
    progress: the check-out waits until they end, so that the statement has them.</p>
  % end
  <p>Check <strong>{{stay.guest}}</strong> out of <span class="mono">{{ext.number}}</span> (in since {{when(stay.checkin_utc)}}).</p>
  <table class="info" id="stay-summary">
    <tr><th>Opening balance</th><td>{{fmt(preview['opening_balance'])}}</td></tr>
    <tr><th>Calls</th><td id="stay-calls">{{preview['totals']['calls']}} costing {{fmt(preview['totals']['call_cost'])}}</td></tr>
    <tr><th>Recharges</th><td>{{fmt(preview['totals']['recharges'])}}</td></tr>
    <tr><th>Adjustments</th><td>{{fmt(preview['totals']['adjustments'])}}</td></tr>
    <tr><th>Balance now</th><td id="stay-balance">{{fmt(preview['closing_balance'])}}</td></tr>
    <tr><th>Owed</th><td id="stay-owed">{{fmt(owed)}}</td></tr>
  </table>
  <label for="payment">Payment taken at the desk ({{currency_label}}, at most what is owed)</label>
  <input id="payment" name="payment" value="{{payment}}" inputmode="decimal" maxlength="20" placeholder="{{plain(owed)}}">
  % include('field_error.tpl', name='payment')
  <div class="buttons">
    <button type="submit" class="primary" id="do-checkout">Review check-out</button>
    <a href="/stays" class="button subtle">Cancel</a>
  </div>
</form>
