% rebase('layout.tpl')
<form method="get" action="/rates/test" class="panel stacked-grid" id="rate-test-form">
  <p class="wide">Which rate would bill this call, and what would it cost?</p>
  <div class="field">
    <label for="extension">Extension</label>
    <input id="extension" name="extension" value="{{form['extension']}}" maxlength="32">
    % include('field_error.tpl', name='extension')
  </div>
  <div class="field">
    <label for="dialed">Dialed Number</label>
    <input id="dialed" name="dialed" value="{{form['dialed']}}" inputmode="tel" maxlength="64">
    % include('field_error.tpl', name='dialed')
  </div>
  <div class="field">
    <label for="at">Call Start (box time)</label>
    <input id="at" name="at" type="datetime-local" value="{{form['at']}}">
    <span class="hint">Empty: now.</span>
    % include('field_error.tpl', name='at')
  </div>
  <div class="field">
    <label for="duration">Answered Duration (seconds)</label>
    <input id="duration" name="duration" value="{{form['duration'] or '60'}}" inputmode="numeric" maxlength="7">
    % include('field_error.tpl', name='duration')
  </div>
  <div class="buttons wide"><button type="submit" class="primary" id="run-test">Test</button>
    <a href="/rates" class="button subtle">Back to Rate</a></div>
</form>
% if result:
<div class="panel result" id="rate-test-result">
  % if result['rate']:
  % r = result['rate']
  <p>Rate <strong>{{r.id}}</strong> matches: {{r.remarks or 'prefix ' + r.prefix}}
     (prefix <span class="mono">{{r.prefix}}</span>, length {{r.length or 'any'}},
     {{time_of_day(r.start)}}–{{time_of_day(r.end)}}).</p>
  <p>A call of {{result['duration']}} s started {{result['local'].strftime('%Y-%m-%d %H:%M')}} costs
     <strong class="cost" id="test-cost">{{fmt(result['cost'])}}</strong>.</p>
  % else:
  <p id="test-none">No rate matches this call at {{result['local'].strftime('%Y-%m-%d %H:%M')}}.
     Policy for unrated calls: <strong>{{'allowed, not billed' if result['policy'] == 'allow' else 'denied'}}</strong>.</p>
  % end
  % if not result['known']:
  <p class="hint">Note: there is no extension {{form['extension']}} yet.</p>
  % end
</div>
% end
