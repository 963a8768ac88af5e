% if errors.get(name):
<span class="field-error" id="err-{{name}}" role="alert">{{errors[name]}}</span>
% end
