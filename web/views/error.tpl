% rebase('layout.tpl')
<div class="panel">
  <p class="error-message" id="error-message">{{message}}</p>
  <p><a href="/" data-back>Back</a> · <a href="/">Home</a></p>
</div>
