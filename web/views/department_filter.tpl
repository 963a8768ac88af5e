% choices = department_choices()
% if choices:
  <label>{{_("Department")}}
    <select name="dept" id="filter-dept">
      <option value="">{{_("All")}}</option>
      % for dept_id, dept_name in choices:
      <option value="{{dept_id}}" {{'selected' if str(filters.get('dept', '')) == str(dept_id) else ''}}>{{dept_name}}</option>
      % end
    </select></label>
% end
% include('field_error.tpl', name='dept')
