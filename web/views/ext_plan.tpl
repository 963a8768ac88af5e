  <div class="field" id="ext-plan">
    <label for="plan">{{_("Calling plan")}}</label>
    <select id="plan" name="plan">
      <option value="{{plan_field['none']}}">{{_("No plan of its own")}}</option>
      % for p in plan_field['plans']:
      <option value="{{p.id}}" {{'selected' if plan_field['chosen'] == str(p.id) else ''}}>{{p.name}}</option>
      % end
    </select>
    % include('field_error.tpl', name='plan')
    <span class="hint">{{_("Free minutes a month, used before money. Without a plan of its own it uses its department's plan, if any.")}}</span>
  </div>
