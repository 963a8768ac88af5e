<label>{{_("Call Type")}} <select name="type" id="type">
    <option value="">{{_("all call types")}}</option>
    % for t in call_types:
    <option value="{{t}}" {{'selected' if filters['type'] == t else ''}}>{{type_label(t)}}</option>
    % end
  </select></label>
