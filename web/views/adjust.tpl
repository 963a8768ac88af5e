% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/extensions/adjust" class="panel stacked" id="adjust-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <p>{{!_("Correct the balance of {extension} (now {balance}): a mistyped recharge, a refund. A negative amount lowers it. The adjustment and its reason appear in the Recharge History; it does not count as a recharge.").format(extension='<span class="mono">' + escape(ext.number) + '</span> ' + escape(ext.name), balance=escape(fmt(ext.balance)))}}</p>
  <label for="amount">{{_("Amount ({currency})").format(currency=currency_label)}}</label>
  <input id="amount" name="amount" value="{{form['amount']}}" inputmode="decimal" placeholder="-10.00" required maxlength="20">
  % include('field_error.tpl', name='amount')
  <label for="reason">{{_("Reason")}}</label>
  <input id="reason" name="reason" value="{{form['reason']}}" required maxlength="200" placeholder="{{_("recharged 100 instead of 10")}}">
  % include('field_error.tpl', name='reason')
  <div class="buttons">
    <button type="submit" class="primary" id="do-adjust">{{_("Review adjustment")}}</button>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
