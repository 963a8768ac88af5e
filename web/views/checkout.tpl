% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/stays/check-out" class="panel stacked" id="checkout-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  % if preview['in_progress']:
  <p class="notice" role="alert" id="in-progress">{{_("{count} call(s) of {number} are in progress: the check-out waits until they end, so that the statement has them.").format(count=preview['in_progress'], number=ext.number)}}</p>
  % end
  % if unknown:
  <p class="notice" role="alert" id="unknown-cost">{{_("{count} call(s) of this stay have no known cost yet: their reservation was released before the PBX settled them (the box restarted during them, say), and its call records may still bill them. Check out later, or close them as not charged: a charge that comes afterwards then goes to nobody, never to the next guest.").format(count=unknown)}}</p>
  <label class="tick"><input type="checkbox" name="close_unknown" value="1" id="close-unknown" {{'checked' if close_unknown else ''}}> {{_("Close them as not charged")}}</label>
  % include('field_error.tpl', name='close_unknown')
  % end
  <p>{{!_("Check {guest} out of {number} (in since {since}).").format(guest='<strong>' + escape(stay.guest) + '</strong>', number='<span class="mono">' + escape(ext.number) + '</span>', since=escape(when(stay.checkin_utc)))}}</p>
  <table class="info" id="stay-summary">
    <tr><th>{{_("Opening balance")}}</th><td>{{fmt(preview['opening_balance'])}}</td></tr>
    <tr><th>{{_("Calls")}}</th><td id="stay-calls">{{_("{count} costing {cost}").format(count=preview['totals']['calls'], cost=fmt(preview['totals']['call_cost']))}}</td></tr>
    <tr><th>{{_("Recharges")}}</th><td>{{fmt(preview['totals']['recharges'])}}</td></tr>
    <tr><th>{{_("Adjustments")}}</th><td>{{fmt(preview['totals']['adjustments'])}}</td></tr>
    <tr><th>{{_("Balance now")}}</th><td id="stay-balance">{{fmt(preview['closing_balance'])}}</td></tr>
    <tr><th>{{_("Owed")}}</th><td id="stay-owed">{{fmt(owed)}}</td></tr>
  </table>
  <label for="payment">{{_("Payment taken at the desk ({currency}, at most what is owed)").format(currency=currency_label)}}</label>
  <input id="payment" name="payment" value="{{payment}}" inputmode="decimal" maxlength="20" placeholder="{{plain(owed)}}">
  % include('field_error.tpl', name='payment')
  <div class="buttons">
    <button type="submit" class="primary" id="do-checkout">{{_("Review check-out")}}</button>
    <a href="/stays" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
