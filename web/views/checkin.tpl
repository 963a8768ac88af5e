% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/stays/check-in" class="panel stacked" id="checkin-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <p>{{!_("Check a guest in on {extension} (balance now {balance}): the extension takes the guest's name, is unlocked and billed.").format(extension='<span class="mono">' + escape(ext.number) + '</span> ' + escape(ext.name), balance=escape(fmt(ext.balance)))}}</p>
  <label for="guest">{{_("Guest")}}</label>
  <input id="guest" name="guest" value="{{form['guest']}}" required maxlength="80">
  % include('field_error.tpl', name='guest')
  <label for="deposit">{{_("Deposit ({currency}, optional: recharged now)").format(currency=currency_label)}}</label>
  <input id="deposit" name="deposit" value="{{form['deposit']}}" inputmode="decimal" maxlength="20">
  % include('field_error.tpl', name='deposit')
  <label for="credit">{{_("Credit ({currency}, optional: how far below zero calls may go)").format(currency=currency_label)}}</label>
  <input id="credit" name="credit" value="{{form['credit']}}" inputmode="decimal" maxlength="20">
  % include('field_error.tpl', name='credit')
  <div class="buttons">
    <button type="submit" class="primary" id="do-checkin">{{_("Review check-in")}}</button>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
