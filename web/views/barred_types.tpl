% picked = barred_of(form)
<fieldset class="field wide" id="barred-types">
  <legend>{{_("Barred call types")}}</legend>
  % if bulk:
  <label class="tick"><input type="checkbox" name="set_barred" value="1" id="set_barred" {{'checked' if form.get('set_barred') == '1' else ''}}> {{_("Set the barred call types")}}</label>
  % end
  <div class="choices">
  % for t in barrable:
    <label class="tick"><input type="checkbox" name="barred" value="{{t}}" id="barred-{{t}}" {{'checked' if t in picked else ''}}> {{type_label(t)}}</label>
  % end
  </div>
  <span class="hint">{{_("Calls to these types are denied. Free (emergency) calls can never be barred.")}}</span>
  % include('field_error.tpl', name='barred')
</fieldset>
