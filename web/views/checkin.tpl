% rebase('layout.tpl')
<form method="post" action="/stays/check-in" class="panel stacked" id="checkin-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <p>Check a guest in on <span class="mono">{{ext.number}}</span> {{ext.name}} (balance now
    {{fmt(ext.balance)}}): the extension takes the guest's name, is unlocked and billed.</p>
  <label for="guest">Guest</label>
  <input id="guest" name="guest" value="{{form['guest']}}" required maxlength="80">
  % include('field_error.tpl', name='guest')
  <label for="deposit">Deposit ({{currency_label}}, optional: recharged now)</label>
  <input id="deposit" name="deposit" value="{{form['deposit']}}" inputmode="decimal" maxlength="20">
  % include('field_error.tpl', name='deposit')
  <label for="credit">Credit ({{currency_label}}, optional: how far below zero calls may go)</label>
  <input id="credit" name="credit" value="{{form['credit']}}" inputmode="decimal" maxlength="20">
  % include('field_error.tpl', name='credit')
  <div class="buttons">
    <button type="submit" class="primary" id="do-checkin">Review check-in</button>
    <a href="/extensions" class="button subtle">Cancel</a>
  </div>
</form>
