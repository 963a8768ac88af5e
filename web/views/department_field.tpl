% choices = department_choices()
% if choices:
  <div class="{{'bulk-row' if bulk else 'field'}}">
    % if bulk:
    <label class="tick"><input type="checkbox" name="set_department" value="1" id="set_department" {{'checked' if form.get('set_department') == '1' else ''}}> {{_("Department")}}</label>
    % else:
    <label for="department">{{_("Department")}}</label>
    % end
    <select name="department" id="department" aria-label="{{_("Department")}}">
      <option value="">{{_("(no department)")}}</option>
      % for dept_id, dept_name in choices:
      <option value="{{dept_id}}" {{'selected' if str(form.get('department', '')) == str(dept_id) else ''}}>{{dept_name}}</option>
      % end
    </select>
    % include('field_error.tpl', name='department')
  </div>
% end
